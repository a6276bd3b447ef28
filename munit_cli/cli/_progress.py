"""The training progress display: a Rich progress bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import os
import time
import traceback

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..train import Callback, FitResult, Trainer
from ._console import DEBUG_VARIABLE, console, styled


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
        # The first compiled step takes minutes (136 s for the default model on an H200): say why.
        compiling = trainer.compiled.enabled and trainer.compiled.seconds is None
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), TextColumn("eta"),
                TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), console=self.console)
            self.task = self.progress.add_task("train", total=trainer.config.iterations, completed=trainer.step,
                                               speed="compiling the step..." if compiling else "", losses="")
            self.progress.start()
        elif compiling:
            self.console.print("compiling the training step (during the first step; --no-compile trains "
                               "without)", highlight=False)

    def _speed(self, trainer: Trainer) -> str:
        """Steps per second; with a compiled step, without its first step (the compilation), which is
        shown apart."""
        steps, seconds = trainer.step - self._step0, time.perf_counter() - self._t0
        compile_seconds = trainer.compiled.seconds
        if compile_seconds is None:
            return f"{steps / max(seconds, 1e-9):.2f} it/s"
        speed = (steps - 1) / max(seconds - compile_seconds, 1e-9)
        return f"{speed:.2f} it/s (compiled in {compile_seconds:.0f} s)"

    def on_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=trainer.step, speed=self._speed(trainer),
                                 losses=format_losses(losses))
        elif trainer.step % trainer.config.log_every == 0 or trainer.step == trainer.config.iterations:
            self.console.print(f"step {trainer.step}/{trainer.config.iterations}  "
                               f"{self._speed(trainer)}  {format_losses(losses)}", highlight=False)

    def on_bad_image(self, trainer: Trainer, path: str) -> None:
        self.console.print(styled("warning:", "yellow") + f" skipping unreadable image {path}")

    def on_compile_failure(self, trainer: Trainer, error: BaseException) -> None:
        """One line, whatever failed; louder when --compile was asked for. MUNIT_DEBUG=1 adds the traceback."""
        from ..compiling import describe_failure

        cause = describe_failure(error)
        if trainer.config.compile:  # asked for: the user expects the speed and should know it is gone
            message = (styled("warning: --compile failed, training goes on without compiling (slower):", "bold red")
                       + f" {cause}. Fix the cause or pass --no-compile; MUNIT_DEBUG=1 shows the traceback")
        else:
            message = (styled("warning:", "yellow") + f" compiling the training step failed ({cause}); training "
                       "goes on without compiling, as --no-compile does (pass it to skip the attempt)")
        self.console.print(message, highlight=False)
        if os.environ.get(DEBUG_VARIABLE):
            self.console.print("".join(traceback.format_exception(error)), highlight=False)
        if self.progress is not None:
            self.progress.update(self.task, speed="")

    def on_checkpoint(self, trainer: Trainer, path) -> None:
        if self.progress is None:
            self.console.print(f"checkpoint: {path} (step {trainer.step})", highlight=False)

    def on_end(self, trainer: Trainer, result: FitResult) -> None:
        if self.progress is not None:
            self.progress.stop()
