"""`munit train` as a whole process against its bare training step: what data loading, sampling and
logging cost.

Writes ``--images`` generated photographs-like JPEGs (smooth random colour fields, ``--photo-size``
pixels square) per domain, runs the `munit` entry point on them for ``--iterations`` steps at
``--size`` (default recipe, the device's defaults: compiled on one CUDA device), and reads its
iterations per second from ``metrics.jsonl`` (the log intervals after ``--skip`` steps, median).
Then times ``Trainer.train_step`` alone, same config, on batches already on the device. The target
(issue 25): the process at least 95% of the bare step's speed.

    python benchmarks/train_process.py --device cuda                       # 3,000 512x512 JPEGs, 256x256, 400 steps
    python benchmarks/train_process.py --device cpu --images 40 --photo-size 96 --size 64 --iterations 40 --skip 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def write_photo(path: Path, size: int, seed: int) -> None:
    """A smooth random colour field (upsampled noise), saved as a quality-90 JPEG."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8))
    small.resize((size, size), Image.BICUBIC).save(path, quality=90)


def make_dataset(root: Path, images: int, size: int) -> None:
    jobs = [(root / "train" / domain / f"{i:05d}.jpg", size, d * images + i)
            for d, domain in enumerate(("a", "b")) for i in range(images)]
    for folder in {path.parent for path, *_ in jobs}:
        folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor() as pool:
        list(pool.map(write_photo, *zip(*jobs), chunksize=64))


def process_speed(root: Path, args: argparse.Namespace) -> float:
    out = root / "run"
    munit = Path(sys.executable).parent / "munit"
    command = [str(munit), "train", str(root), "--out", str(out), "--iterations", str(args.iterations),
               "--image-size", str(args.size), "--device", args.device, "--workers", str(args.workers),
               "--checkpoint-every", str(args.iterations), "--sample-every", str(max(args.iterations // 4, 1))]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    print(f"munit train: {time.perf_counter() - started:.0f} s in all ({' '.join(command[1:])})")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["it_per_s"] for r in records if r["step"] > args.skip)


def step_speed(args: argparse.Namespace) -> float:
    import torch

    from munit_cli.config import TrainConfig
    from munit_cli.train import Trainer

    config = TrainConfig(image_size=args.size, iterations=10**6)
    trainer = Trainer(config, None, "/nonexistent", ("a", "b"), device=args.device)
    x = torch.rand(1, 3, args.size, args.size, device=trainer.device) * 2 - 1
    for _ in range(args.skip):  # compiling, warming up
        trainer.train_step(x, x)
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    sync()
    started = time.perf_counter()
    steps = max(args.iterations - args.skip, 10)
    for _ in range(steps):
        trainer.train_step(x, x)
    sync()
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--images", type=int, default=3000, help="JPEGs per domain")
    parser.add_argument("--photo-size", type=int, default=512)
    parser.add_argument("--size", type=int, default=256, help="training crop")
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--skip", type=int, default=50, help="first steps left out (compiling, warm-up)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="munit-train-process-"))
    try:
        started = time.perf_counter()
        make_dataset(root, args.images, args.photo_size)
        print(f"{2 * args.images} JPEGs of {args.photo_size}x{args.photo_size} in {time.perf_counter() - started:.0f} s")
        process = process_speed(root, args)
        step = step_speed(args)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"munit train (metrics.jsonl, median after step {args.skip}): {process:.2f} it/s")
    print(f"Trainer.train_step alone, same config:               {step:.2f} it/s")
    print(f"process / step: {process / step:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
