"""`munit translate`: turn images into several plausible images of the other domain."""

from __future__ import annotations

import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError, DataError
from ._console import console, err_console, fail, styled
from ._options import CheckpointOpt, DeviceOpt, DirectionOpt, ImageSizeOpt, PrecisionOpt

RANDOM_STYLES = 8  # per input, unless --n-styles says otherwise


def translate(
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or folders (searched recursively).",
                                                 show_default=False)],
    n_styles: Annotated[int | None, typer.Option("--n-styles", "-n", help=(
        f"Random styles per input. \\[default: {RANDOM_STYLES}]"), show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed for the sampled styles. \\[default: 0]",
                                             show_default=False)] = None,
    style_ref: Annotated[list[Path] | None, typer.Option(metavar="<path>",
        help="A reference image of the target domain, or a folder of them: use their styles (one per "
        "image) instead of random ones. Repeat the option for several (--style-ref a.jpg --style-ref b.jpg).")] = None,
    styles: Annotated[Path | None, typer.Option(
        help="Style codes saved by `munit style-sample --save-styles` (same styles for every input).")] = None,
    direction: DirectionOpt = None,
    image_size: ImageSizeOpt = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("translations"),
    batch_size: Annotated[int, typer.Option(help="Inputs translated together.")] = 4,
    checkpoint: CheckpointOpt = None,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "auto",
) -> None:
    """Translate each input into N styles: writes <stem>_style<k>.png and <stem>_grid.png into OUT.

    Styles are random (--n-styles, --seed), taken from reference images (--style-ref), or read from
    a styles file (--styles). Each input is encoded once; its styles are decoded in one batch on a
    GPU, one by one on a CPU (faster there).
    """
    if style_ref and styles:
        raise ConfigError("use either --style-ref or --styles, not both")
    for flag, value in (("--n-styles", n_styles), ("--seed", seed)):
        if value is not None and (style_ref or styles):  # it would be ignored without a word
            raise ConfigError(f"{flag} is for random styles; with --style-ref or --styles the styles are "
                              "those given, so leave it out")
    n_styles = RANDOM_STYLES if n_styles is None else n_styles
    seed = 0 if seed is None else seed
    if n_styles < 1 or batch_size < 1:
        raise ConfigError("--n-styles and --batch-size must be at least 1")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder to write the images into")
    import torch  # heavy imports here, not at the top: `munit --help` must not load torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..checkpoint import load_styles
    from ..inference import ReplayedTranslate, encode_style, sample_styles
    from ._console import warn_optional_path_failed
    from ._inference import default_image_size, expand_inputs, load_model, model_device, read_image

    paths = expand_inputs(inputs)
    references = expand_inputs(style_ref) if style_ref else []
    model, metadata, _ = load_model(checkpoint, device, precision)
    dev = model_device(model)
    direction = direction or metadata.get("default_direction", "A2B")
    source, target = model.generators_for(direction)
    size = default_image_size(metadata, image_size, model)

    # The styles every input is rendered with.
    if styles is not None:
        codes = load_styles(styles, model.config.style_dim).to(dev)
    elif references:
        refs = [read_image(p, size, model, dev) for p in references]
        codes = torch.cat([encode_style(target, r) for r in refs])
    else:
        codes = sample_styles(n_styles, model.config.style_dim, seed, dev)

    # CUDA graphs for repeated batch shapes; one that fails is a warning, and the run goes on eagerly.
    translate_images = ReplayedTranslate(source, target, codes, on_failure=warn_optional_path_failed("CUDA graphs"))
    started = time.perf_counter()
    failed: list[str] = []
    used_stems: set[str] = set()
    # With a fixed size, inputs can share a batch; otherwise each keeps its own shape.
    group = batch_size if size is not None else 1
    # A batch's PNGs are written on a worker thread while the next batch is translated (PNG
    # compression releases the GIL). Before a batch's writes start, the previous batch's must have
    # finished: a failed write stops the run one batch later, and results never pile up in memory.
    writing: list[Future] = []
    submitted = 0  # inputs whose images went to the writer (all written once the writer is shut down)
    try:
        with ThreadPoolExecutor(max_workers=1) as writer, \
                Progress(TextColumn("[bold]translate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                         console=console, disable=not console.is_terminal or len(paths) < 2) as progress:
            task = progress.add_task("translate", total=len(paths))
            for start in range(0, len(paths), group):
                batch_paths, images = _read_batch(paths[start:start + group], lambda p: read_image(p, size, model, dev),
                                                  failed)
                if images:
                    x = torch.cat(images)
                    results = translate_images(x).cpu()
                    _wait_for(writing)
                    writing = [writer.submit(_write_outputs, out, _unique_stem(path.stem, used_stems), image.cpu(), row)
                               for path, image, row in zip(batch_paths, x, results)]
                    submitted += len(writing)
                progress.advance(task, len(paths[start:start + group]))
            _wait_for(writing)
    except KeyboardInterrupt:  # the writer finished what it had before this is reached
        kept = f"; their images are in {out}" if submitted else ""
        raise fail(f"interrupted after {submitted} of {len(paths)} input(s){kept}", 128 + signal.SIGINT) from None
    done = len(paths) - len(failed)
    seconds = time.perf_counter() - started
    if done:
        console.print(f"translated {done} image(s) {direction} into {len(codes)} style(s) each in {seconds:.1f} s "
                      f"-> {out}")
    if failed:
        raise fail(f"{len(failed)} input(s) could not be read: {', '.join(failed)}")


def _write_outputs(out: Path, stem: str, image, styles) -> None:
    """One input's files: <stem>_style<k>.png per style and <stem>_grid.png (input, then the styles)."""
    from ..data import image_grid, save_image

    for k, img in enumerate(styles):
        save_image(img, out / f"{stem}_style{k}.png")
    save_image(image_grid([[image, *styles]], ["input"] + [f"style {k}" for k in range(len(styles))]),
               out / f"{stem}_grid.png")


def _read_batch(paths: list[Path], read, failed: list[str]) -> tuple[list[Path], list]:
    """The inputs of one batch that decode, and their tensors; each that does not is reported and
    added to ``failed``, and the run goes on without it."""

    readable, images = [], []
    for path in paths:
        try:
            images.append(read(path))
            readable.append(path)
        except DataError as e:
            err_console.print(styled("failed:", "red") + f" {e}")
            failed.append(str(path))
    return readable, images


def _wait_for(writes: list[Future]) -> None:
    for write in writes:
        write.result()  # raises the write's error, if any


def _unique_stem(stem: str, used: set[str]) -> str:
    """Inputs from different folders may share a name; never overwrite an earlier input's outputs."""
    candidate, i = stem, 1
    while candidate in used:
        candidate, i = f"{stem}-{i}", i + 1
    used.add(candidate)
    return candidate
