"""Downloading one file over HTTP(S) so that an interruption costs nothing: the bytes go to
``DEST.part``, and running again asks the server for the rest (a range request) instead of starting
over. Standard library only (no torch here).

A download is refused with a ``DownloadError`` that names the address when the host cannot be
reached, the server answers with an error status, or it sends a web page where an archive was
expected (a moved link, a sign-in or quota page); the caller turns that into advice.
"""

from __future__ import annotations

import hashlib
import http.client
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import MunitError

CHUNK = 1 << 20
TIMEOUT_S = 30
USER_AGENT = "munit-cli"


class DownloadError(MunitError):
    """The address gave no usable file (yet); ``resumable`` when part of it arrived and running again
    would fetch the rest."""

    def __init__(self, message: str, resumable: bool = False):
        super().__init__(message)
        self.resumable = resumable  # stopped part-way: running again resumes it


@dataclass(frozen=True)
class Started:
    """What the server said before the first byte: the whole file's size (None if it did not say)
    and how many bytes of it are already on disk (resumed)."""

    total: int | None
    resumed: int


def partial_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _open(url: str, offset: int):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # asked for bytes past the end: the part already holds everything
            return None
        raise DownloadError(f"{url} answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"could not reach {url} ({reason})") from None


def _looks_like_a_page(content_type: str, first: bytes) -> bool:
    head = first[:512].lstrip().lower()
    return content_type.startswith("text/html") or head.startswith((b"<!doctype html", b"<html"))


def download(url: str, dest: Path, on_start: Callable[[Started], None] = lambda started: None,
             on_bytes: Callable[[int], None] = lambda n: None) -> Path:
    """Fetch ``url`` to ``dest``, resuming ``dest.part`` if an earlier run left one. Returns ``dest``
    once the server's whole file is there (its size checked against what the server announced)."""
    part = partial_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    response = _open(url, offset)
    if response is None:
        on_start(Started(offset, offset))
        part.replace(dest)
        return dest
    with response:
        if offset and response.status != 206:  # the server ignored the range: start over
            offset = 0
        total = _announced_size(response, offset)
        # read1: whatever has arrived, up to CHUNK (read() would wait for a whole CHUNK, so the
        # progress bar would stall and Ctrl-C would find nothing written)
        first = _read(response, url, part)
        if not offset and _looks_like_a_page(response.headers.get("Content-Type", ""), first):
            raise DownloadError(f"{url} sent a web page, not the archive (a moved link, or a sign-in or quota page)")
        on_start(Started(total, offset))
        with open(part, "ab" if offset else "wb") as f:
            chunk = first
            while chunk:
                f.write(chunk)
                f.flush()  # on disk as it arrives: a killed process keeps what it had, to resume from
                on_bytes(len(chunk))
                chunk = _read(response, url, part)
    have = part.stat().st_size
    if total is not None and have != total:
        raise DownloadError(f"the download from {url} stopped at {have:,} of {total:,} bytes; "
                            "run the same command again to resume it", resumable=True)
    part.replace(dest)
    return dest


def _read(response, url: str, part: Path) -> bytes:
    """The next bytes that have arrived; a connection that breaks (reset, timed out) is a
    DownloadError that says the part kept so far resumes (a full disk's OSError is not caught here)."""
    try:
        return response.read1(CHUNK)
    except (OSError, http.client.HTTPException) as e:
        have = part.stat().st_size if part.exists() else 0
        resume = "; run the same command again to resume it" if have else ""
        raise DownloadError(f"the download from {url} broke off after {have:,} bytes ({e or type(e).__name__})"
                            f"{resume}", resumable=have > 0) from None


def _announced_size(response, offset: int) -> int | None:
    """The whole file's size: Content-Range's total for a resumed download, else Content-Length."""
    content_range = response.headers.get("Content-Range", "")
    if offset and "/" in content_range and not content_range.endswith("/*"):
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None else None


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds ``folder`` (or the nearest existing folder above it)."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    return shutil.disk_usage(existing).free


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
