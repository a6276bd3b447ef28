"""Check that every image of a dataset decodes, before training starts rather than when one is drawn.

Each file gets a real decode; JPEGs in draft mode at 1/8 scale, which still reads every byte of
the entropy-coded data (so a truncated file fails) at a fraction of the cost. Files are checked on
threads: Pillow releases the GIL while it decodes. Results can be kept in a cache keyed by path,
size and modification time, so a resumed run does not check its images again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .data import IMAGE_ERRORS
from .files import write_text_atomically

CACHE_VERSION = 1
DRAFT_SCALE = 8  # JPEG decodes at 1/1, 1/2, 1/4 or 1/8 of its size; the smallest is enough to find damage


def image_problem(path: str | Path) -> str | None:
    """None if ``path`` decodes as an image, else what is wrong with it."""
    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB", (max(1, img.width // DRAFT_SCALE), max(1, img.height // DRAFT_SCALE)))
            img.load()
    except IMAGE_ERRORS as e:
        if isinstance(e, OSError) and e.strerror:  # the path is shown beside it: not "[Errno 2] ...: 'path'"
            return e.strerror
        return str(e) or type(e).__name__
    return None


@dataclass
class CheckResult:
    """The outcome of checking a list of images, in the list's order."""

    good: list[Path]
    bad: dict[Path, str]  # path -> what is wrong
    from_cache: int  # how many results came from the cache instead of a decode


def _signature(path: Path) -> list[int]:
    try:
        stat = path.stat()
    except OSError:  # gone since it was listed: checked (and reported) like any unreadable file
        return [-1, -1]
    return [stat.st_size, stat.st_mtime_ns]


def load_cache(path: Path) -> dict[str, list]:
    """A cache written by ``save_cache``; empty when missing, damaged or of another version."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("files", {}) if data.get("version") == CACHE_VERSION else {}


def save_cache(path: Path, cache: dict[str, list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps({"version": CACHE_VERSION, "files": cache}))


def check_images(paths: Iterable[Path], cache: dict[str, list] | None = None,
                 on_checked: Callable[[int], None] | None = None, workers: int | None = None) -> CheckResult:
    """Decode every image not already in ``cache`` with the same size and mtime.

    ``cache`` (absolute path -> [size, mtime_ns, problem or None]) is updated in place with every result;
    ``on_checked(n)`` is told of each batch of n files done (progress bars).
    """
    paths = list(paths)
    cache = {} if cache is None else cache
    # Keyed by absolute path: a run started on ./afhq resumes with the absolute paths of run.json.
    keys = {p: os.path.abspath(p) for p in paths}
    signatures = {p: _signature(p) for p in paths}
    todo = [p for p in paths if cache.get(keys[p], [None, None])[:2] != signatures[p]]
    if on_checked and len(paths) > len(todo):
        on_checked(len(paths) - len(todo))
    workers = workers or min(32, 2 * (os.cpu_count() or 1))  # twice the cores: file reads overlap decodes
    with ThreadPoolExecutor(workers) as pool:
        for path, problem in zip(todo, pool.map(image_problem, todo)):
            cache[keys[path]] = [*signatures[path], problem]
            if on_checked:
                on_checked(1)
    bad = {p: cache[keys[p]][2] for p in paths if cache[keys[p]][2] is not None}
    return CheckResult([p for p in paths if p not in bad], bad, len(paths) - len(todo))
