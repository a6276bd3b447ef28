"""`munit eval`: FID and LPIPS diversity of a checkpoint (or of every checkpoint of a run)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ConfigError, DataError
from ..files import prepare_file, write_text_atomically
from ..runs import LATEST_CHECKPOINT
from ._console import console
from ._options import CheckpointAliasOpt, DeviceOpt, SeedOpt, one_checkpoint

if TYPE_CHECKING:
    from ..layouts import Layout

DIRECTIONS = {"a2b": ("A2B",), "b2a": ("B2A",), "both": ("A2B", "B2A")}


def checkpoints_to_evaluate(given: Path | None) -> list[Path]:
    """A checkpoint file as given; for a run folder, each of its numbered checkpoints; by default
    the newest run's latest checkpoint."""
    from ._options import find_latest_checkpoint

    if given is None:
        return [find_latest_checkpoint()]
    if given.is_file():
        return [given]
    if given.is_dir():
        folder = given / "checkpoints" if (given / "checkpoints").is_dir() else given
        found = sorted(folder.glob("step-*.safetensors")) or sorted(folder.glob(LATEST_CHECKPOINT))
        if found:
            return found
        raise ConfigError(f"{given} holds no checkpoints (looked for step-*.safetensors); pass a .safetensors file")
    raise ConfigError(f"{given} does not exist; pass a checkpoint file or a run folder")


def data_layout(data: Path | None, checkpoint: Path) -> Layout:
    """--data, or the data the checkpoint's run trained on (its run.json)."""
    from ..layouts import discover, of_checkpoint

    if data is not None:
        return discover(data)
    try:
        layout = of_checkpoint(checkpoint)
    except DataError as e:
        raise DataError(f"{e}; give the dataset with --data ROOT") from None
    if layout is not None:
        return layout
    raise ConfigError(f"give the dataset with --data ROOT ({checkpoint} is not inside a training run)")


def eval_command(
    checkpoint: Annotated[Path | None, typer.Argument(
        help="A checkpoint, or a run folder (every step-*.safetensors, one row each). "
             "Default: the newest run's latest checkpoint.", show_default=False)] = None,
    data: Annotated[Path | None, typer.Option(
        help="Dataset root with held-out images (test/ or val/). Default: the run's training data.",
        show_default=False)] = None,
    direction: Annotated[str, typer.Option(help="a2b, b2a or both.")] = "both",
    n_styles: Annotated[int, typer.Option("--n-styles", "-n", help="Translations per held-out input.")] = 10,
    mode: Annotated[str, typer.Option(
        help="latent (random styles) or reference (styles of held-out target images).")] = "latent",
    fid_reference: Annotated[str, typer.Option(
        help="Real images FID compares with: the target's train split (StarGAN v2) or test.")] = "train",
    batch_size: Annotated[int, typer.Option(help="Images per batch through the networks.")] = 16,
    image_size: Annotated[int | None, typer.Option(help="Image side. Default: the training size.")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    weights_dir: Annotated[Path | None, typer.Option(
        help="Folder holding the metric weights (FID Inception, AlexNet) when they cannot be downloaded.",
        show_default=False)] = None,
    out: Annotated[Path, typer.Option(help="JSON file for the results.")] = Path("eval.json"),
    checkpoint_option: CheckpointAliasOpt = None,
) -> None:
    """FID and LPIPS diversity by StarGAN v2's protocol (latent- or reference-guided).

    e.g. `munit eval runs/dog2cat --data ./afhq` writes one row per checkpoint to eval.json.
    """
    if direction.lower() not in DIRECTIONS:
        raise ConfigError(f"--direction must be a2b, b2a or both; got {direction!r}")
    from ..metrics import require_eval_extra

    require_eval_extra()
    from rich.markup import escape
    from rich.progress import track

    from ..devices import select_device
    from ..evaluation import EvalSettings, RealFeatures, evaluate_direction
    from ..metrics import load_feature_networks
    from ._inference import default_image_size, load_model, model_device

    paths = checkpoints_to_evaluate(one_checkpoint(checkpoint, checkpoint_option))
    prepare_file(out)  # before the evaluation, which can take hours, not after
    layout = data_layout(data, paths[0])
    select_device(device)  # a missing device is an error before the weights load
    nets = load_feature_networks(weights_dir)
    rows, reals = [], None

    def progress(items, description, total):
        # the progress column reads its description as markup; a domain name is plain text
        return track(items, description=escape(description), total=total, console=console, transient=True)

    for path in paths:
        model, metadata, _ = load_model(path, device, "fp32")
        dev = model_device(model)
        if reals is None:
            nets = nets.to(dev)
            reals = RealFeatures(nets, dev)
        size = default_image_size(metadata, image_size, model) or 256
        settings = EvalSettings(n_styles, mode, fid_reference, seed, batch_size, size).validate()
        step = int(metadata["step"]) if metadata.get("step", "").isdigit() else None
        row = {"checkpoint": str(path), "step": step}
        for name in DIRECTIONS[direction.lower()]:
            result = evaluate_direction(model, name, layout, settings, nets, reals, progress)
            row[name.lower()] = result.as_dict()
        rows.append(row)
        # After each checkpoint, so that an interruption keeps the rows already computed.
        report = {"settings": {"data": str(layout.root), "layout": layout.kind, "direction": direction.lower(),
                               **{k: v for k, v in vars(settings).items() if k != "max_inputs"}},
                  "rows": rows}
        write_text_atomically(out, json.dumps(report, indent=2) + "\n")
    _print_table(rows)
    console.print(f"wrote {out}", highlight=False)


def _print_table(rows: list[dict]) -> None:
    from rich.table import Table

    table = Table("checkpoint", "step", "direction", "FID", "LPIPS", "inputs x styles")
    for row in rows:
        for key in ("a2b", "b2a"):
            if key in row:
                r = row[key]
                table.add_row(Path(row["checkpoint"]).name, str(row["step"] if row["step"] is not None else "-"),
                              f"{r['source']} -> {r['target']}", f"{r['fid']:.2f}", f"{r['lpips']:.4f}",
                              f"{r['n_inputs']} x {r['n_outputs'] // max(r['n_inputs'], 1)}")
    console.print(table)
