"""How long `munit train` takes to check a dataset's images before its first step.

    python benchmarks/image_check.py [--images 15000] [--size 512] [--dir DIR]

Writes N JPEGs of SIZE x SIZE (AFHQ's size; photo-like: smooth colour fields with grain, about
the file size of AFHQ's JPEGs) unless DIR already holds them, then times ``check_images`` on them
with the default thread count, and a full decode of a sample for comparison. The files were just
written, so they are in the page cache: the figure is decode time, not disk time.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from munit_cli.image_check import check_images

DISTINCT = 64  # distinct images; the files cycle through them


def photo_like(seed: int, size: int) -> bytes:
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    pixels = np.asarray(coarse, dtype=np.float32) + rng.normal(0, 6, (size, size, 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_dataset(folder: Path, n: int, size: int) -> list[Path]:
    with ProcessPoolExecutor() as pool:
        blobs = list(pool.map(photo_like, range(DISTINCT), [size] * DISTINCT))
    paths = [folder / f"{i:05d}.jpg" for i in range(n)]
    for i, path in enumerate(paths):
        path.write_bytes(blobs[i % DISTINCT])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=15000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        paths = sorted(folder.glob("*.jpg"))[: args.images]
        if len(paths) < args.images:
            start = time.perf_counter()
            paths = write_dataset(folder, args.images, args.size)
            print(f"wrote {len(paths)} JPEGs of {args.size}x{args.size} in {time.perf_counter() - start:.1f} s")
        mean_kib = np.mean([p.stat().st_size for p in paths[:DISTINCT]]) / 1024
        start = time.perf_counter()
        result = check_images(paths)
        seconds = time.perf_counter() - start
        assert not result.bad, result.bad
        sample = paths[:500]
        start = time.perf_counter()
        for path in sample:
            with Image.open(path) as img:
                img.load()
        full_ms = (time.perf_counter() - start) / len(sample) * 1000
    print(f"{os.cpu_count()} CPUs; {len(paths)} JPEGs of {args.size}x{args.size}, {mean_kib:.0f} KiB on average")
    print(f"check_images: {seconds:.1f} s ({len(paths) / seconds:.0f} images/s, default threads)")
    print(f"for comparison, a full decode on one thread: {full_ms:.2f} ms per image")


if __name__ == "__main__":
    main()
