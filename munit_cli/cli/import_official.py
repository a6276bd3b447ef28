"""`munit import-official`: convert released MUNIT .pt checkpoints into a munit-cli checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ._console import console


def import_official(
    gen_pt: Annotated[Path, typer.Argument(help="The released generator file, gen_XXXXXXXX.pt.")],
    output: Annotated[Path, typer.Option("--out", "--output", "-o", help="Where to write the .safetensors checkpoint.")],
    dis: Annotated[Path | None, typer.Option("--dis", help="The released discriminator file, dis_XXXXXXXX.pt.")] = None,
    domains: Annotated[str, typer.Option(help="Names of domains a and b, comma-separated.")] = "a,b",
    padding: Annotated[str, typer.Option(help="Padding the model was trained with (not stored in the .pt).")] = "reflect",
    activation: Annotated[str, typer.Option(help="Generator activation (not stored in the .pt).")] = "relu",
) -> None:
    """Convert a released MUNIT checkpoint (NVlabs/MUNIT gen_*.pt, optionally dis_*.pt).

    Every size is recovered from the tensor shapes; no config file is needed. The files are read
    with torch.load(weights_only=True), so no code in them is run.
    """
    names = tuple(n.strip() for n in domains.split(","))
    if len(names) != 2:
        raise ConfigError(f"--domains takes two names separated by a comma (e.g. dog,cat); got {domains!r}")
    from ..checkpoint import import_official as convert  # imports torch
    from ..checkpoint import parameter_counts, save_checkpoint
    from ..config import to_dict

    model = convert(gen_pt, dis, names, padding=padding, activation=activation)  # type: ignore[arg-type]
    path = save_checkpoint(model, output, step=0, source=str(gen_pt))
    config = to_dict(model.config)
    console.print(f"found generators: dim {config['gen_dim']}, style_dim {config['style_dim']}, "
                  f"mlp_dim {config['mlp_dim']}, n_downsample {config['n_downsample']}, n_res {config['n_res']}")
    if dis is not None:
        console.print(f"found discriminators: dim {config['dis_dim']}, n_layer {config['dis_n_layer']}, "
                      f"num_scales {config['dis_num_scales']}")
    counts = parameter_counts(model)
    console.print(f"parameters: {counts['gen_a']:,} per generator"
                  + (f", {counts['dis_a']:,} per discriminator" if "dis_a" in counts else ""))
    console.print(f"wrote {path} (domains {names[0]}, {names[1]})")
