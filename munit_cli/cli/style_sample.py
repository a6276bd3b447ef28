"""`munit style-sample`: a grid of content images by random styles, or a walk between two styles."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import ConfigError, DataError
from ..files import refuse_folder
from ._console import console
from ._options import CheckpointOpt, DeviceOpt, DirectionOpt, ImageSizeOpt, PrecisionOpt, SeedOpt

if TYPE_CHECKING:
    import torch

    from ..model import MUNIT

DEFAULT_CONTENT_IMAGES = 4


def _default_content(checkpoint: Path, model: MUNIT, direction: str) -> list[Path]:
    """Held-out images of the run's source domain, found through the run's run.json."""
    from ..data import find_images
    from ..layouts import of_checkpoint

    hint = "pass content images: munit style-sample IMG [IMG...]"
    source_name, _ = model.domains_for(direction)
    try:
        layout = of_checkpoint(checkpoint)
        folders = layout.domain(source_name) if layout is not None else None
    except DataError as e:
        raise ConfigError(f"the run's data is not reachable ({e}); {hint}") from None
    if folders is None:
        raise ConfigError(f"no content images given and {checkpoint} is not inside a training run; {hint}")
    images = find_images(folders.held_out or folders.train)[:DEFAULT_CONTENT_IMAGES]
    if not images:
        raise ConfigError(f"no images of {source_name!r} found; {hint}")
    split, why = ("held-out", "") if folders.held_out else ("training", " (the run has no held-out split)")
    console.print(f"content: {len(images)} {split} image(s) of {source_name} from {images[0].parent}{why}",
                  highlight=False)
    return images


def _style_from(spec: str, model: MUNIT, target, size: int | None, device: torch.device) -> torch.Tensor:
    """A style given as an integer seed, or as the path of a reference image."""
    from ..inference import encode_style, sample_styles
    from ._inference import read_image

    if spec.lstrip("-").isdigit():
        return sample_styles(1, model.config.style_dim, int(spec), device)[0]
    path = Path(spec)
    if not path.exists():
        raise ConfigError(f"--interpolate: {spec!r} is neither a seed (an integer) nor an existing image")
    return encode_style(target, read_image(path, size, model, device))[0]


def style_sample(
    inputs: Annotated[list[Path] | None, typer.Argument(
        help="Content images and/or folders (rows). Default: held-out images of the run's source domain.",
        show_default=False)] = None,
    n_styles: Annotated[int, typer.Option("--n-styles", "-n", help="Random styles (columns).")] = 8,
    seed: SeedOpt = 0,
    interpolate: Annotated[tuple[str, str] | None, typer.Option(
        help="Walk from style A to style B; each is a seed or a reference image.", show_default=False)] = None,
    steps: Annotated[int, typer.Option(help="Styles along the --interpolate walk, both ends included.")] = 8,
    save_styles_to: Annotated[Path | None, typer.Option("--save-styles", help=
                              "Also write the styles used, for `munit translate --styles`.")] = None,
    direction: DirectionOpt = None,
    out: Annotated[Path, typer.Option(help="Output image.")] = Path("style-sample.png"),
    image_size: ImageSizeOpt = None,
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
    content: Annotated[list[Path] | None, typer.Option(hidden=True, help="Older spelling of INPUTS.")] = None,
) -> None:
    """Render content images (rows) in random styles or along a style walk (columns).

    e.g. `munit style-sample dog1.jpg dog2.jpg --n-styles 8`, or `--interpolate 3 cat.jpg` to walk
    from the style of seed 3 to that of a reference cat.
    """
    if n_styles < 1:
        raise ConfigError("--n-styles must be at least 1")
    import torch  # heavy imports here, not at the top: `munit --help` must not load torch

    from ..checkpoint import save_styles
    from ..data import image_format, image_grid, save_image
    from ..inference import interpolate_styles, sample_styles, translate
    from ._inference import default_image_size, expand_inputs, load_model, model_device, read_image

    image_format(out)  # before the model load and the decoding: fail fast on typos
    if save_styles_to is not None:
        refuse_folder(save_styles_to)
    given = [*(inputs or []), *(content or [])]
    given_paths = expand_inputs(given) if given else None
    model, metadata, checkpoint = load_model(checkpoint, device, precision)
    dev = model_device(model)
    direction = direction or metadata.get("default_direction", "A2B")
    source, target = model.generators_for(direction)
    size = default_image_size(metadata, image_size, model) or 256
    paths = given_paths or _default_content(checkpoint, model, direction)
    x = torch.cat([read_image(p, size, model, dev) for p in paths])

    if interpolate is not None:
        start, end = (_style_from(spec, model, target, size, dev) for spec in interpolate)
        styles = interpolate_styles(start, end, steps)
        labels = [f"t={i / (steps - 1):.2f}" for i in range(steps)]
    else:
        styles = sample_styles(n_styles, model.config.style_dim, seed, dev)
        labels = [f"style {k}" for k in range(n_styles)]
    results = translate(source, target, x, styles)
    rows = [[image, *row] for image, row in zip(x, results)]
    save_image(image_grid(rows, ["content"] + labels, [p.stem for p in paths]), out)
    console.print(f"wrote {out} ({len(paths)} content image(s) x {len(styles)} style(s), {direction})")
    if save_styles_to is not None:
        save_styles(styles.cpu(), save_styles_to, direction=direction)
        console.print(f"wrote {len(styles)} style code(s) to {save_styles_to}")
