"""How long the `munit` command takes to start, as a whole process, against torch's own import.

    python benchmarks/startup.py [--rounds 7]

Each row is the median (and range) of whole-process wall times, every command in a new process,
the rows taken in turns so that machine noise spreads evenly. `help` rows must not import torch;
`work` rows import it, load a tiny checkpoint and do a little work, so what they take beyond
`import torch` is the tool's own start-up (Python imports of its modules, Typer, reading the file).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def tiny_checkpoint(folder: Path) -> Path:
    from munit_cli import MUNIT, ModelConfig, save_checkpoint

    model = MUNIT(ModelConfig(gen_dim=8, style_dim=4, mlp_dim=16, n_res=1, dis_dim=8, dis_n_layer=3, dis_num_scales=2),
                  ("dog", "cat"))
    return save_checkpoint(model, folder / "tiny.safetensors", step=0)


def wall(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "COLUMNS": "120"})
    return time.perf_counter() - start


def package_import_ms(cwd: Path) -> tuple[float, float]:
    """-X importtime: cumulative ms of munit_cli.cli (what `--help` pays) and of torch itself."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import munit_cli.cli, torch"], cwd=cwd,
                         capture_output=True, text=True, check=True).stderr
    fields = [line.split("|") for line in out.splitlines() if line.startswith("import time:")]
    cumulative = {f[2].strip(): int(f[1]) / 1000 for f in fields if len(f) == 3 and f[1].strip().isdigit()}
    return cumulative.get("munit_cli.cli", float("nan")), cumulative.get("torch", float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    munit = str(BIN / "munit")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ckpt = str(tiny_checkpoint(folder))
        rows = {
            "import torch (python -c)": [sys.executable, "-c", "import torch"],
            "help: munit --help": [munit, "--help"],
            "help: munit translate --help": [munit, "translate", "--help"],
            "work: munit info CKPT": [munit, "info", ckpt],
            "work: munit export (bundle)": [munit, "export", "--checkpoint", ckpt, "--output", "b.safetensors"],
        }
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.rounds):
            for name, command in rows.items():
                times[name].append(wall(command, folder))
        cli_ms, torch_ms = package_import_ms(folder)
    torch_median = statistics.median(times["import torch (python -c)"])
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.rounds} rounds; whole-process wall time")
    print(f"{'what':34} {'median s':>9} {'min-max s':>13} {'beyond import torch':>20}")
    for name, values in times.items():
        median = statistics.median(values)
        extra = f"{median - torch_median:+.2f} s" if name.startswith("work") else ""
        print(f"{name:34} {median:9.2f} {min(values):6.2f}-{max(values):<6.2f} {extra:>20}")
    print(f"-X importtime, cumulative: munit_cli.cli {cli_ms:.0f} ms (no torch in it), torch {torch_ms:.0f} ms")


if __name__ == "__main__":
    main()
