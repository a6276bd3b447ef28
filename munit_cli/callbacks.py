"""Training callbacks that write files: metrics (JSON lines, TensorBoard) and sample grids."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .data import image_grid, save_image, write_sample_index
from .inference import decode_styles, sample_styles
from .train import Callback, FitResult, Trainer, lr_at


class MetricsLogger(Callback):
    """Every ``log_every`` steps, one JSON line per step to ``OUT/metrics.jsonl`` (and TensorBoard if installed)."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / "metrics.jsonl"
        self.tensorboard = None
        self._last_time = time.perf_counter()
        self._last_step = 0

    def on_start(self, trainer: Trainer) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._last_time, self._last_step = time.perf_counter(), trainer.step
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is optional (extra "tensorboard")
            return
        self.tensorboard = SummaryWriter(str(self.path.parent / "tensorboard"))

    def on_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        if trainer.step % trainer.config.log_every and trainer.step != trainer.config.iterations:
            return
        now = time.perf_counter()
        its = (trainer.step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_time, self._last_step = now, trainer.step
        record = {"step": trainer.step, "lr": lr_at(trainer.step - 1, trainer.config), "it_per_s": its,
                  "time": time.time(), **losses}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            for key, value in record.items():
                if key not in ("step", "time"):
                    self.tensorboard.add_scalar(key, value, trainer.step)

    def on_end(self, trainer: Trainer, result: FitResult) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


class SampleWriter(Callback):
    """Every ``sample_every`` steps (and at the end), a labelled grid of fixed held-out images.

    Rows: each held-out image of a, then of b. Columns: the input, its reconstruction, and its
    translation into the other domain with the same fixed random styles every time.
    """

    def __init__(self, out_dir: Path, n_styles: int = 3):
        self.dir = Path(out_dir) / "samples"
        self.n_styles = n_styles
        self._last_written = -1

    def on_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        if trainer.step % trainer.config.sample_every == 0:
            self.write(trainer)

    def on_end(self, trainer: Trainer, result: FitResult) -> None:
        if self._last_written != trainer.step:
            self.write(trainer)

    @torch.no_grad()
    def write(self, trainer: Trainer) -> Path:
        model, device = trainer.model, trainer.device
        styles = sample_styles(self.n_styles, model.config.style_dim, seed=trainer.config.seed, device=device)
        x_a, x_b = (x.to(device) for x in trainer.data.samples)
        a, b = model.domains
        was_training = model.training
        model.eval()
        rows, labels = [], []
        for x, own, other, name, other_name in ((x_a, model.gen_a, model.gen_b, a, b),
                                                 (x_b, model.gen_b, model.gen_a, b, a)):
            content, style = own.encode(x)
            recon = own.decode(content, style)
            translated = decode_styles(other, content, styles)
            for i in range(x.shape[0]):
                rows.append([x[i], recon[i], *translated[i]])
                labels.append(f"{name}2{other_name}")
        model.train(was_training)
        header = ["input", "recon"] + [f"s{k}" for k in range(self.n_styles)]
        path = save_image(image_grid(rows, header, labels), self.dir / f"step-{trainer.step:08d}.png")
        write_sample_index(self.dir)
        self._last_written = trainer.step
        return path
