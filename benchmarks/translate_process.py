"""`munit translate` as a user runs it, a whole process, against the released test recipe's process.

    python benchmarks/translate_process.py [--images 6] [--rounds 3]

Six AFHQ-sized inputs (512x512 JPEGs) into 8 styles at 256x256 with the default model (random
weights: the arithmetic is the same as a trained model's), every run a new process, so start-up,
model load, image decoding and writing count as they do for a user. Rows are taken in turns.

- ``released``: the release's test.py, written with our modules as in translate.py (torchvision's
  transforms, encode, one decode per style at full size, torchvision's save_image per output),
  all inputs in one process (test.py takes one input per process; one process here is the
  stricter comparison for us);
- ``ours``: ``munit translate IMAGES --image-size 256`` (PNG per style and a grid per input), at
  the default ``--precision auto`` and at ``--precision fp32``, and once more with NNPACK's
  convolutions turned off (``munit_cli.nnpack``), which says what they bring.

Then one more run of ``munit translate`` under cProfile says where its process spends the time.
"""

from __future__ import annotations

import argparse
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent

RELEASED = r"""
import sys
from pathlib import Path

import torch
import torchvision.transforms as T
import torchvision.utils as vutils
from PIL import Image

from munit_cli.checkpoint import load_checkpoint
from munit_cli.devices import set_paths

checkpoint, out, images = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
# the released decoder (upsample, then convolve at full size) and the plain norms and convolutions
model = set_paths(load_checkpoint(checkpoint).eval(), fast_convs=False)
transform = T.Compose([T.Resize(256), T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
torch.manual_seed(0)
with torch.no_grad():
    for i, path in enumerate(images):
        x = transform(Image.open(path).convert("RGB")).unsqueeze(0)
        styles = torch.randn(8, model.config.style_dim, 1, 1)
        content, _ = model.gen_a.encode(x)
        for j in range(len(styles)):
            y = (model.gen_b.decode(content, styles[j].unsqueeze(0)) + 1) / 2
            vutils.save_image(y, out / f"{i}_output{j:03d}.jpg", padding=0, normalize=True)
"""

# (file name ending, function) -> row label, for the cProfile breakdown of `munit translate`.
PHASES = {
    ("cli/_inference.py", "load_model"): "load the checkpoint",
    ("cli/_inference.py", "read_image"): "decode + resize inputs",
    ("munit_cli/inference.py", "translate"): "encode + decode (model)",
    # Grids and PNGs are made on a worker thread, which cProfile does not see: this is the time the
    # main thread waits for it.
    ("cli/translate.py", "_wait_for"): "wait for the PNG writer thread",
}


def afhq_like_images(folder: Path, n: int) -> list[Path]:
    """``n`` 512x512 JPEGs with smooth colour fields and texture, as AFHQ's photos are stored."""
    import torch
    import torch.nn.functional as F
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    paths = []
    for i in range(n):
        coarse = torch.rand(1, 3, 8, 8, generator=generator)
        fine = torch.rand(1, 3, 512, 512, generator=generator) * 0.15
        pixels = (F.interpolate(coarse, size=512, mode="bicubic", align_corners=False) + fine).clamp(0, 1)
        array = (pixels[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        path = folder / f"pet_{i}.jpg"
        Image.fromarray(array).save(path, quality=95)
        paths.append(path)
    return paths


def default_checkpoint(folder: Path) -> Path:
    import torch

    from munit_cli import MUNIT, ModelConfig, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(MUNIT(ModelConfig(), ("dog", "cat")), folder / "default.safetensors",
                           step=0, image_size=256)


def wall(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def profile_translate(command: list[str], cwd: Path, stats_file: Path) -> None:
    """Run ``munit translate`` (its ``main``, as the entry point runs it) under cProfile, in a new process."""
    script = ("import cProfile, sys\n"
              f"sys.argv = {['munit', *command]!r}\n"
              "from munit_cli.cli import main\n"
              f"cProfile.run('try:\\n    main()\\nexcept SystemExit:\\n    pass', {str(stats_file)!r})\n")
    subprocess.run([sys.executable, "-c", script], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def cumulative_seconds(stats_file: Path) -> dict[tuple[str, str], float]:
    stats = pstats.Stats(str(stats_file)).stats  # type: ignore[attr-defined]
    found: dict[tuple[str, str], float] = {}
    for (filename, _, function), (_, _, _, cumulative, _) in stats.items():
        for ending, name in PHASES:
            if function == name and filename.replace(os.sep, "/").endswith(ending):
                found[(ending, name)] = found.get((ending, name), 0.0) + cumulative
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        images = [str(p) for p in afhq_like_images(folder, args.images)]
        ckpt = str(default_checkpoint(folder))
        released_script = folder / "released_test.py"
        released_script.write_text(RELEASED)
        for name in ("released", "auto", "fp32", "oneDNN", "profiled"):
            (folder / name).mkdir()
        translate = ["translate", *images, "--checkpoint", ckpt, "--image-size", "256", "--n-styles", "8"]
        rows = {
            "released test.py recipe, one process": [sys.executable, str(released_script), ckpt,
                                                     str(folder / "released"), *images],
            "munit translate (--precision auto)": [str(BIN / "munit"), *translate, "--out", str(folder / "auto")],
            "munit translate --precision fp32": [str(BIN / "munit"), *translate, "--out", str(folder / "fp32"),
                                                 "--precision", "fp32"],
            # Every convolution left to oneDNN (F.conv2d), as before munit_cli.nnpack.
            "munit translate, NNPACK off (oneDNN)": ["env", "MUNIT_NNPACK=0", str(BIN / "munit"), *translate,
                                                     "--out", str(folder / "oneDNN")],
        }
        startup = [sys.executable, "-c", "import munit_cli.cli, munit_cli.inference, torch"]
        times: dict[str, list[float]] = {name: [] for name in [*rows, "start-up: python, torch, munit_cli"]}
        for _ in range(args.rounds):
            for name, command in rows.items():
                times[name].append(wall(command, folder))
            times["start-up: python, torch, munit_cli"].append(wall(startup, folder))

        print(f"torch {torch.__version__}, {os.cpu_count()} CPUs ({torch.backends.cpu.get_cpu_capability()}); "
              f"{args.images} 512x512 JPEGs into 8 styles at 256x256, default model; whole-process wall time, "
              f"median of {args.rounds} rounds taken in turns")
        baseline = statistics.median(times["released test.py recipe, one process"])
        print(f"{'what':40} {'median s':>9} {'min-max s':>13} {'speed-up':>9}")
        for name, seconds in times.items():
            median = statistics.median(seconds)
            speedup = f"{baseline / median:8.2f}x" if name in rows else ""
            print(f"{name:40} {median:9.2f} {min(seconds):6.2f}-{max(seconds):6.2f} {speedup:>9}")

        stats_file = folder / "translate.prof"
        start = time.perf_counter()
        profile_translate([*translate, "--out", str(folder / "profiled")], folder, stats_file)
        total = time.perf_counter() - start
        found = cumulative_seconds(stats_file)
        print(f"\nwhere `munit translate` (--precision auto) spends its {total:.2f} s (one run under cProfile):")
        accounted = 0.0
        for key, label in PHASES.items():
            if key not in found:
                continue
            accounted += found[key]
            print(f"  {label:38} {found[key]:6.2f} s")
        print(f"  {'the rest (interpreter, imports, CLI)':38} {total - accounted:6.2f} s")


if __name__ == "__main__":
    main()
