"""`munit info`: what a checkpoint holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ._console import console
from ._options import CheckpointAliasOpt, checkpoint_file, one_checkpoint


def info(
    checkpoint: Annotated[Path | None, typer.Argument(
        help="A munit-cli .safetensors file, or a run folder (its latest checkpoint). Default: the newest run's latest checkpoint.", show_default=False)] = None,
    checkpoint_option: CheckpointAliasOpt = None,
) -> None:
    """Show a checkpoint's domains, training step, config, parameter counts, file size and format."""
    from rich.table import Table

    from ..checkpoint import load_checkpoint, parameter_counts, read_metadata  # imports torch
    from ..config import to_dict

    checkpoint = checkpoint_file(one_checkpoint(checkpoint, checkpoint_option))

    metadata = read_metadata(checkpoint)
    model = load_checkpoint(checkpoint)
    table = Table(title=str(checkpoint), show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    a, b = model.domains
    table.add_row("domains", f"A = {a}, B = {b}")
    table.add_row("kind", metadata.get("kind", "?"))
    table.add_row("step", metadata.get("step", "0"))
    if "image_size" in metadata:
        table.add_row("image size", metadata["image_size"])
    table.add_row("format", f"{metadata['format']} v{metadata['format_version']} "
                            f"(written by munit-cli {metadata.get('munit_cli_version', '?')})")
    table.add_row("file size", f"{Path(checkpoint).stat().st_size / 2**20:.2f} MiB")
    table.add_row("EMA weights", "yes" if metadata.get("has_ema") == "true" else "no")
    for name, count in parameter_counts(model).items():
        table.add_row(f"params {name}", f"{count:,}")
    for key, value in to_dict(model.config).items():
        table.add_row(f"config {key}", json.dumps(value))
    console.print(table)
