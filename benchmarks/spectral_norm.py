"""The default recipe's training step on the CPU with torch's spectral norm, the project's, and none.

Every variant is built in one process and timed in turns (rounds of N steps, variants in a new
order each round), so drift in a shared machine's speed falls on all of them alike; reports the
median it/s of the rounds. The settings are benchmarks/quality.py's.

Usage: python benchmarks/spectral_norm.py [--setting small] [--rounds 7] [--steps 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # noqa: E402  (benchmarks/quality.py: settings and recipes)

from munit_cli import model, networks, spectral  # noqa: E402
from munit_cli.train import Trainer  # noqa: E402

VARIANTS = {"torch's spectral norm": ("default", torch_spectral_norm),
            "munit_cli.spectral": ("default", spectral.spectral_norm),
            "no spectral norm": ("default+no-sn", spectral.spectral_norm)}


def build(recipe: str, parametrize, setting: str, tmp: Path) -> tuple[Trainer, torch.Tensor]:
    # The discriminators' constructor and the initialisation read it from their modules.
    networks.spectral_norm = model.spectral_norm = parametrize
    try:
        config = quality.recipe_config(recipe, 0, 10**6, setting)
        torch.manual_seed(0)
        trainer = Trainer(config, None, tmp, quality.DOMAINS, device="cpu")
    finally:
        networks.spectral_norm = model.spectral_norm = spectral.spectral_norm
    x = torch.rand(config.batch_size, 3, config.image_size, config.image_size) * 2 - 1
    for _ in range(10):  # warm-up
        trainer.train_step(x, x)
    return trainer, x


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", default="small", choices=list(quality.SETTINGS))
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    tmp = quality.RUNS / "tmp"
    built = {name: build(recipe, fn, args.setting, tmp) for name, (recipe, fn) in VARIANTS.items()}
    rates: dict[str, list[float]] = {name: [] for name in built}
    order = list(built)
    for _ in range(args.rounds):
        random.shuffle(order)
        for name in order:
            trainer, x = built[name]
            start = time.perf_counter()
            for _ in range(args.steps):
                trainer.train_step(x, x)
            rates[name].append(args.steps / (time.perf_counter() - start))
    print(f"torch {torch.__version__}; setting {args.setting}, {args.threads} threads; "
          f"median of {args.rounds} rounds of {args.steps} steps")
    for name, values in rates.items():
        print(f"{name:24s} {statistics.median(values):6.2f} it/s   (rounds: "
              + " ".join(f"{v:.2f}" for v in values) + ")")


if __name__ == "__main__":
    main()
