"""Options shared by several commands, and the checkpoint discovery they use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import CheckpointError, ConfigError
from ..runs import LATEST_CHECKPOINT

CheckpointOpt = Annotated[Path | None, typer.Option(
    "--checkpoint", "-c", help="A training checkpoint or exported bundle (.safetensors), or a run folder "
    "(its latest checkpoint). Default: the newest runs/*/checkpoints/latest.safetensors below the current folder.")]
# For the commands that take the checkpoint as an argument (`munit eval CKPT`): --checkpoint too,
# as translate, style-sample and export take it.
CheckpointAliasOpt = Annotated[Path | None, typer.Option(
    "--checkpoint", "-c", help="The same as the CHECKPOINT argument.", show_default=False)]
DeviceOpt = Annotated[str, typer.Option(help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")]
SeedOpt = Annotated[int, typer.Option(help="Random seed for the sampled styles.")]
ImageSizeOpt = Annotated[int | None, typer.Option(
    help="Resize the shorter side to this and centre-crop a square. Default: the training size.")]
PrecisionOpt = Annotated[str, typer.Option(
    help="auto (bf16 where the hardware computes it natively, else fp32), fp32, bf16 or fp16.")]
DirectionOpt = Annotated[str | None, typer.Option(
    help="A2B or B2A, or by domain names such as dog2cat. Default: source to target (A2B).")]


def one_checkpoint(argument: Path | None, option: Path | None) -> Path | None:
    """The checkpoint given as the argument or with --checkpoint (None: neither)."""
    if argument is not None and option is not None and argument != option:
        raise ConfigError(f"two checkpoints given, {argument} and --checkpoint {option}: give one")
    return argument if argument is not None else option


def checkpoint_file(given: Path | None) -> Path:
    """The file to load: a file as given; for a run folder (or its checkpoints/ folder), its latest
    checkpoint; by default, the newest run's below the current folder."""
    if given is None:
        return find_latest_checkpoint()
    if not given.is_dir():
        return given  # a missing or unreadable file is the loader's error to name
    for candidate in (given / "checkpoints" / LATEST_CHECKPOINT, given / LATEST_CHECKPOINT):
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"{given} is a folder without a checkpoints/{LATEST_CHECKPOINT}; pass a run folder (--out of "
                          "`munit train`) or a .safetensors file")


def find_latest_checkpoint(start: Path | None = None) -> Path:
    """The newest ``runs/*/checkpoints/latest.safetensors`` below ``start`` (the current folder)."""
    start = start or Path.cwd()
    # A few levels deep (runs/, munit-demo/runs/, project/x/runs/): a recursive search of a big
    # folder (a dataset, a home directory) would take minutes.
    patterns = [f"{'*/' * depth}runs/*/checkpoints/{LATEST_CHECKPOINT}" for depth in range(3)]
    found = [p for pattern in patterns for p in start.glob(pattern) if p.is_file()]
    if not found:
        raise CheckpointError(
            f"no trained model found (looked for runs/*/checkpoints/latest.safetensors below {start}); "
            "train one with `munit train ROOT --source A --target B` (or `munit demo`), "
            "or pass --checkpoint PATH")
    return max(found, key=lambda p: p.stat().st_mtime)
