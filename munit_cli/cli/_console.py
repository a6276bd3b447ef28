"""The Rich consoles, error rendering, and the training progress display."""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Callable

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import MunitError
from ..train import Callback, FitResult, Trainer

console = Console(soft_wrap=True)  # never break a path a user may copy
err_console = Console(stderr=True, soft_wrap=True)
DEBUG_VARIABLE = "MUNIT_DEBUG"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(command: Callable) -> Callable:
    """Render the project's errors once, as ``error: ...`` and exit 1; MUNIT_DEBUG=1 shows the traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (MunitError, OSError) as e:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            raise fail(str(e)) from None
        except KeyboardInterrupt:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            raise fail("interrupted", 128 + signal.SIGINT) from None

    return wrapper


def format_losses(losses: dict[str, float], keys: tuple[str, ...] = ("gen/total", "dis/total")) -> str:
    return "  ".join(f"{k.split('/')[0]} {losses[k]:.3f}" for k in keys if k in losses)


class ConsoleProgress(Callback):
    """A Rich progress bar (step, it/s, ETA, losses) on a terminal; plain log lines otherwise."""

    def __init__(self, out: Console = console):
        self.console = out
        self.progress: Progress | None = None
        self.task = None
        self._t0 = time.perf_counter()
        self._step0 = 0

    def on_start(self, trainer: Trainer) -> None:
        self._t0, self._step0 = time.perf_counter(), trainer.step
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), console=self.console)
            self.task = self.progress.add_task("train", total=trainer.config.iterations,
                                               completed=trainer.step, speed="", losses="")
            self.progress.start()

    def _speed(self, trainer: Trainer) -> float:
        return (trainer.step - self._step0) / max(time.perf_counter() - self._t0, 1e-9)

    def on_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=trainer.step, speed=f"{self._speed(trainer):.2f} it/s",
                                 losses=format_losses(losses))
        elif trainer.step % trainer.config.log_every == 0 or trainer.step == trainer.config.iterations:
            self.console.print(f"step {trainer.step}/{trainer.config.iterations}  "
                               f"{self._speed(trainer):.2f} it/s  {format_losses(losses)}", highlight=False)

    def on_bad_image(self, trainer: Trainer, path: str) -> None:
        self.console.print(f"[yellow]warning:[/] skipping unreadable image {path}", highlight=False)

    def on_checkpoint(self, trainer: Trainer, path) -> None:
        if self.progress is None:
            self.console.print(f"checkpoint: {path} (step {trainer.step})", highlight=False)

    def on_end(self, trainer: Trainer, result: FitResult) -> None:
        if self.progress is not None:
            self.progress.stop()
