"""Writing output files safely: never half a file under its final name, never a file over a folder,
and a wrong output path found before the work that fills it (no torch here)."""

from __future__ import annotations

import errno
import os
from pathlib import Path


def refuse_folder(path: Path) -> None:
    """IsADirectoryError, named by ``path``, where a file is to be written over a folder: checked
    before the work, and clearer than the error of a temporary file's rename."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))


def prepare_file(path: Path) -> Path:
    """Check that ``path`` can take a file and make its folder, before the work that fills it."""
    refuse_folder(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_text_atomically(path: Path, text: str) -> None:
    """Write a temporary file beside ``path``, then rename it over ``path``: a reader, or a crash,
    never sees half of it."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(text)
    partial.replace(path)
