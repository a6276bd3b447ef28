"""The Rich consoles and error rendering. Light: imported before any command runs (no torch here)."""

from __future__ import annotations

import errno
import functools
import os
import signal
import traceback
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from ..errors import MunitError

# soft_wrap: never break a path a user may copy. Markup off: what is printed is mostly paths, domain
# names and messages, which hold brackets as written ('munit-cli[onnx]', 'photos [raw]/a.png'); Rich
# would read those as style tags, dropping them or failing on '[/]'. Styles come from styled().
console = Console(soft_wrap=True, markup=False)
err_console = Console(stderr=True, soft_wrap=True, markup=False)
DEBUG_VARIABLE = "MUNIT_DEBUG"


# What to do about the file-system errors a user meets; the OS's own words say only what failed.
_NO_WRITE = "choose a folder you can write to, or change its permissions"
_OS_ERROR_ADVICE = {
    errno.EISDIR: "that is a folder: give a file's path",
    errno.EACCES: _NO_WRITE,
    errno.EPERM: _NO_WRITE,
    errno.EROFS: "that disk is read-only: choose a folder on a writable one",
    errno.ENOSPC: "the disk is full: free some space and run the command again",
}


def describe_os_error(e: OSError) -> str:
    """``path: what failed; what to do`` instead of Python's ``[Errno 20] Not a directory: 'path'``."""
    if e.strerror is None:  # raised with a message of its own
        return str(e)
    if e.errno in (errno.ENOTDIR, errno.EEXIST) and e.filename is not None:
        wanted = Path(e.filename)
        in_the_way = next((p for p in (wanted, *wanted.parents) if p.exists() and not p.is_dir()), None)
        if in_the_way is not None:  # a file where a folder has to be made or entered
            needed_for = "" if in_the_way == wanted else f" (for {wanted})"
            return f"{in_the_way} is a file, but a folder is needed there{needed_for}: move it, or choose another path"
    message = e.strerror if e.filename is None else f"{e.filename}: {e.strerror}"
    advice = _OS_ERROR_ADVICE.get(e.errno)
    return f"{message}; {advice}" if advice else message


def styled(words: str, style: str) -> Text:
    """``words`` in ``style``; text added to the result stays plain (Text's own ``style`` would colour
    all of it)."""
    return Text.assemble((words, style))


def print_error(message: str) -> None:
    err_console.print(styled("error:", "bold red") + f" {message}")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; return the Exit to raise."""
    print_error(message)
    return typer.Exit(code)


def handle_errors(command: Callable) -> Callable:
    """Render the project's errors once, as ``error: ...`` and exit 1 (2 for a device that does not
    exist); MUNIT_DEBUG=1 shows the traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (MunitError, OSError) as e:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            message = str(e) if isinstance(e, MunitError) else describe_os_error(e)
            raise fail(message, getattr(e, "exit_code", 1)) from None
        except KeyboardInterrupt:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            raise fail("interrupted", 128 + signal.SIGINT) from None

    return wrapper


def warn_optional_path_failed(what: str) -> Callable[[BaseException], None]:
    """A callback that reports a failed optional speed-up (``what``) in one ``warning:`` line on
    stderr, the whole traceback with MUNIT_DEBUG=1."""
    def warn(error: BaseException) -> None:
        from ..compiling import describe_failure

        err_console.print(styled("warning:", "yellow") + f" {what} failed ({describe_failure(error)}); going on "
                          "without them, as fast as before they were tried", highlight=False)
        if os.environ.get(DEBUG_VARIABLE):
            err_console.print("".join(traceback.format_exception(error)), highlight=False)
    return warn
