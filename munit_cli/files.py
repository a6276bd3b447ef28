"""Writing output files safely: never half a file under its final name, never a file over a folder,
never two processes writing one run folder, and a wrong output path found before the work that fills
it (no torch here)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import MunitError


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


@contextmanager
def folder_lock(folder: Path, name: str, holder: str) -> Iterator[None]:
    """Hold ``folder/name`` while the block runs; a second process asking for it is refused with a
    MunitError naming ``holder`` and the first's process id. The OS drops the lock when its holder
    exits, however it ends: a crash leaves no stale lock. Without flock (Windows) nothing is held."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise MunitError(f"{folder} is in use by another {holder} (process {lock.read().strip() or '?'}); "
                             "wait for it to finish, or choose another folder") from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
