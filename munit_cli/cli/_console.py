"""The Rich consoles and error rendering. Light: imported before any command runs (no torch here)."""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable

import typer
from rich.console import Console

from ..errors import MunitError

console = Console(soft_wrap=True)  # never break a path a user may copy
err_console = Console(stderr=True, soft_wrap=True)
DEBUG_VARIABLE = "MUNIT_DEBUG"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
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
            raise fail(str(e), getattr(e, "exit_code", 1)) from None
        except KeyboardInterrupt:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            raise fail("interrupted", 128 + signal.SIGINT) from None

    return wrapper
