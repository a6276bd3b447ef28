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
        c = trainer.config
        rates = {"lr": lr_at(trainer.step - 1, c), "lr_dis": lr_at(trainer.step - 1, c, c.lr_discriminators)}
        self.write(trainer.step, {**rates, "it_per_s": its, **losses})

    def write(self, step: int, values: dict[str, float]) -> None:
        """One JSON line (and TensorBoard scalars) for ``step``."""
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, "time": time.time(), **values}) + "\n")
        if self.tensorboard is not None:
            for key, value in values.items():
                self.tensorboard.add_scalar(key, value, step)

    def on_end(self, trainer: Trainer, result: FitResult) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


class SampleWriter(Callback):
    """Every ``sample_every`` steps (and at the end), a labelled grid of fixed held-out images.

    Rows: each held-out image of a, then of b. Columns: the input, its reconstruction, and its
    translation into the other domain with the same fixed random styles every time; with an EMA,
    the EMA generators' (what translate and export use), then the raw generators' beside them.
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
        raw, device = trainer.model, trainer.device
        styles = sample_styles(self.n_styles, raw.config.style_dim, seed=trainer.config.seed, device=device)
        x_a, x_b = (x.to(device) for x in trainer.data.samples)
        a, b = raw.domains
        was_training = raw.training
        raw.eval()
        shown = trainer.ema_model() if trainer.ema is not None else raw
        rows, labels = [], []
        for x, side, name, other_name in ((x_a, ("gen_a", "gen_b"), a, b), (x_b, ("gen_b", "gen_a"), b, a)):
            own, other = (getattr(shown, part) for part in side)
            content, style = own.encode(x)
            columns = [own.decode(content, style), *decode_styles(other, content, styles).unbind(1)]
            if shown is not raw:
                raw_own, raw_other = (getattr(raw, part) for part in side)
                columns += decode_styles(raw_other, raw_own.encode(x)[0], styles).unbind(1)
            for i in range(x.shape[0]):
                rows.append([x[i], *(column[i] for column in columns)])
                labels.append(f"{name}2{other_name}")
        raw.train(was_training)
        header = ["input", "recon"] + [f"s{k}" for k in range(self.n_styles)]
        if shown is not raw:
            header += [f"raw{k}" for k in range(self.n_styles)]
        path = save_image(image_grid(rows, header, labels), self.dir / f"step-{trainer.step:08d}.png")
        write_sample_index(self.dir)
        self._last_written = trainer.step
        return path


class PeriodicEval(Callback):
    """Every ``every`` steps (and at the end), a small evaluation of the source-to-target direction
    with the EMA generators (the trained ones without EMA): FID and LPIPS diversity of the first
    ``max_inputs`` held-out images in ``n_styles`` random styles each (``evaluation``). Written as
    ``eval/fid`` and ``eval/lpips`` to the metrics and to ``samples/eval.json``, which the sample
    page shows. The real images' statistics are computed once, at the first evaluation."""

    def __init__(self, out_dir: Path, every: int, nets, layout, metrics: MetricsLogger | None = None,
                 max_inputs: int = 50, n_styles: int = 4):
        self.samples_dir = Path(out_dir) / "samples"
        self.every, self.nets, self.layout, self.metrics = every, nets, layout, metrics
        self.max_inputs, self.n_styles = max_inputs, n_styles
        self._reals = None
        self._last = -1

    def on_step(self, trainer: Trainer, losses: dict[str, float]) -> None:
        if trainer.step % self.every == 0:
            self.run(trainer)

    def on_end(self, trainer: Trainer, result: FitResult) -> None:
        if self._last != trainer.step:
            self.run(trainer)

    def run(self, trainer: Trainer) -> dict[str, float]:
        from .evaluation import EvalSettings, RealFeatures, evaluate_direction

        if self._reals is None:
            self.nets = self.nets.to(trainer.device)
            self._reals = RealFeatures(self.nets, trainer.device)
        settings = EvalSettings(n_styles=self.n_styles, seed=trainer.config.seed, image_size=trainer.config.image_size,
                                max_inputs=self.max_inputs).validate()
        result = evaluate_direction(trainer.ema_model(), "A2B", self.layout, settings, self.nets, self._reals)
        values = {"eval/fid": result.fid, "eval/lpips": result.lpips}
        if self.metrics is not None:
            self.metrics.write(trainer.step, values)
        history_file = self.samples_dir / "eval.json"
        history = json.loads(history_file.read_text()) if history_file.is_file() else []
        history.append({"step": trainer.step, "direction": f"{result.source}2{result.target}",
                        "inputs": result.n_inputs, "styles": self.n_styles, **values})
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        history_file.write_text(json.dumps(history, indent=2) + "\n")
        write_sample_index(self.samples_dir)
        self._last = trainer.step
        return values
