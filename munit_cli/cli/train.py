"""`munit train`: train MUNIT on two folders of unpaired images."""

from __future__ import annotations

import json
import signal
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..config import RECIPES, TRAIN_PRECISIONS, TrainConfig, replace, to_dict, train_config_from_dict
from ..errors import ConfigError, DataError
from ..files import folder_lock
from ..runs import RUN_FILE, TRAINING_LOCK
from ._console import console, styled
from ._options import DeviceOpt

if TYPE_CHECKING:
    from ..layouts import Layout


def _recipe_default(name: str) -> str:
    """'[default: V]' for an option whose default lives in the recipe (the option itself defaults to
    None, so that a --config file or the resumed run can supply it), and the released recipe's value
    where it differs. The bracket is escaped: Rich markup would read it as a style tag and drop it."""
    ours, released = getattr(RECIPES["default"], name), getattr(RECIPES["released"], name)
    return f"\\[default: {ours}" + (f"; --recipe released: {released}]" if released != ours else "]")


def load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--config: {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config: {path} is not valid TOML: {e}") from None


def resolve_config(config_file: Path | None, base: TrainConfig | None, **flags: Any) -> TrainConfig:
    """Defaults (or a resumed run's config) <- the TOML file <- command-line flags that were given.
    The result is checked as a whole; a bad value is named where the user gave it."""
    values = to_dict(base) if base is not None else {}
    if config_file is not None:
        for key, value in load_toml(config_file).items():
            if isinstance(value, dict) and isinstance(values.get(key), dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
    try:
        return replace(train_config_from_dict(values, validate=False), **flags).validate()
    except ConfigError as e:
        raise ConfigError(_named_as_given(e, flags, config_file), e.field) from None


def _named_as_given(error: ConfigError, flags: dict[str, Any], config_file: Path | None) -> str:
    """``--image-size must be ...`` for a value from a flag, ``--config FILE: ...`` for one from the
    file (or one the file's other settings make invalid), else the message as it is."""
    if error.field is not None and flags.get(error.field) is not None:
        return "--" + error.field.replace("_", "-") + str(error).removeprefix(error.field)
    if config_file is not None:
        return f"--config {config_file}: {error}"
    return str(error)


def _run_info(out: Path | None, root: Path | None, source: str | None, target: str | None,
              dirs: tuple[Path | None, Path | None, Path | None, Path | None]) -> tuple[Layout, str, str, str]:
    """The data's layout and the two domains: from the command line (a ROOT, whose domains are
    found when it has exactly two; or --source-dir and --target-dir), or remembered by the run
    being resumed. Also the line that says so."""
    from ..layouts import discover, explicit, from_run

    source_dir, target_dir, source_held_out, target_held_out = dirs
    saved = {}
    if out is not None and (out / RUN_FILE).is_file():
        try:
            saved = json.loads((out / RUN_FILE).read_text())
        except json.JSONDecodeError:
            raise ConfigError(f"{out / RUN_FILE} is damaged; give ROOT, --source and --target again") from None
    if (source_dir is None) != (target_dir is None):
        raise ConfigError("give both --source-dir and --target-dir (or a dataset ROOT)")
    if source_dir is not None:
        if root is not None:
            raise ConfigError("give a dataset ROOT or --source-dir/--target-dir, not both")
        layout = explicit(source_dir, target_dir, source_held_out, target_held_out, (source, target))
        source, target = list(layout.domains)
    elif root is not None:
        layout = discover(root)
    elif saved:
        try:
            layout = from_run(saved)
        except DataError as e:
            raise DataError(f"{e}; give the data's new place: munit train ROOT --out {out} --resume") from None
    else:
        raise ConfigError("give the dataset ROOT (e.g. munit train ./afhq --source dog --target cat), "
                          "or --source-dir and --target-dir")
    source, target = source or saved.get("source"), target or saved.get("target")
    picked = source is None or target is None
    source, target = layout.pick_pair(source, target)
    note = f"{layout.root}: {layout.describe()}" + (f"; source {source}, target {target} (the two found)"
                                                     if picked else "")
    return layout, source, target, note


def train(
    root: Annotated[Path | None, typer.Argument(
        help="Dataset folder: ROOT/train/<domain> (AFHQ; held out in test/ or val/), ROOT/trainA + trainB "
             "(CycleGAN; domains A and B), or ROOT/<domain>.",
        show_default=False)] = None,
    source: Annotated[str | None, typer.Option("--source", "-s", help="Domain A (translate from). Default: the first of exactly two.")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="Domain B (translate to). Default: the other of exactly two.")] = None,
    source_dir: Annotated[Path | None, typer.Option(
        help="Instead of ROOT: domain A's images (a folder, or a text file listing image paths).",
        show_default=False)] = None,
    target_dir: Annotated[Path | None, typer.Option(help="Instead of ROOT: domain B's images.", show_default=False)] = None,
    source_held_out: Annotated[Path | None, typer.Option(help="With --source-dir: A's held-out images.",
                                                         show_default=False)] = None,
    target_held_out: Annotated[Path | None, typer.Option(help="With --target-dir: B's held-out images.",
                                                         show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder. Default: runs/<source>2<target>.")] = None,
    image_size: Annotated[int | None, typer.Option(
        help="Training crop size (multiple of 4). " + _recipe_default("image_size"))] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Images per domain per step, per process. " + _recipe_default("batch_size"))] = None,
    iterations: Annotated[int | None, typer.Option(help="Training iterations. " + _recipe_default("iterations"))] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed. " + _recipe_default("seed"))] = None,
    device: DeviceOpt = "auto",
    precision: Annotated[str | None, typer.Option(
        help=f"{', '.join(TRAIN_PRECISIONS)} (auto: bf16 where the device computes it natively). "
             + _recipe_default("precision"))] = None,
    workers: Annotated[int | None, typer.Option(help="Data-loading processes. " + _recipe_default("workers"))] = None,
    checkpoint_every: Annotated[int | None, typer.Option(
        help="Steps between checkpoints. " + _recipe_default("checkpoint_every"))] = None,
    sample_every: Annotated[int | None, typer.Option(
        help="Steps between sample grids. " + _recipe_default("sample_every"))] = None,
    compile: Annotated[bool | None, typer.Option("--compile/--no-compile", help=(
        "torch.compile the training step (CUDA graphs on CUDA). \\[default: on for one CUDA device]"))] = None,
    channels_last: Annotated[bool | None, typer.Option("--channels-last/--no-channels-last",
                                                       help="channels_last memory format (often faster on GPUs).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its latest state.")] = False,
    recipe: Annotated[str | None, typer.Option(help=(
        "Training recipe to start from: default (measured on benchmarks/quality.py) or released (MUNIT 2018 "
        "exactly). \\[default: default]"), show_default=False)] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML file with any TrainConfig setting "
                                                   "(\\[model] and \\[loss] tables for the model and loss weights).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check the data and print the resolved config, then stop.")] = False,
    eval_every: Annotated[int, typer.Option(
        help="Every N steps, FID and LPIPS of 50 held-out inputs x 4 styles (needs the eval extra). 0: off.")] = 0,
    weights_dir: Annotated[Path | None, typer.Option(
        help="Folder with the metric weights for --eval-every (see `munit eval --help`).", show_default=False)] = None,
) -> None:
    """Train MUNIT to translate between two image domains, e.g. `munit train ./afhq --source dog --target cat`.

    Writes checkpoints to OUT/checkpoints, sample grids to OUT/samples (open index.html), and
    every loss to OUT/metrics.jsonl. Ctrl-C saves a checkpoint and stops; --resume continues.
    Under torchrun every process trains on its own shard (DistributedDataParallel).
    """
    flags = dict(image_size=image_size, batch_size=batch_size, iterations=iterations, seed=seed,
                 precision=precision, workers=workers, checkpoint_every=checkpoint_every,
                 sample_every=sample_every, compile=compile, channels_last=channels_last)
    if out is None and source and target:
        out = Path("runs") / f"{source}2{target}"
    if out is None and resume:
        raise ConfigError("give --out of the run to resume (or --source and --target)")
    layout, source, target, layout_note = _run_info(out, root, source, target,
                                                    (source_dir, target_dir, source_held_out, target_held_out))
    out = out or Path("runs") / f"{source}2{target}"
    from .. import distributed  # heavy imports here, not at the top: `munit --help` must not load torch
    from ..callbacks import MetricsLogger, SampleWriter
    from ..devices import select_device
    from ..precision import resolve_precision
    from ..resume import saved_train_config
    from ..train import TrainData, Trainer
    from ._progress import ConsoleProgress

    dev = select_device(device, distributed.local_rank())  # a missing device is an error before any work
    if recipe is not None and recipe not in RECIPES:
        raise ConfigError(f"--recipe must be one of {', '.join(RECIPES)}; got {recipe!r}")
    if resume:
        if recipe is not None:
            raise ConfigError("--recipe applies to a new run; a resumed run keeps its own settings "
                              f"({out / 'config.json'})")
        cfg = resolve_config(config, saved_train_config(out), **flags)
    else:
        if (out / "checkpoints" / "resume.safetensors").exists():
            raise ConfigError(f"{out} already holds a training run; add --resume to continue it, "
                              "or choose a new --out")
        cfg = resolve_config(config, RECIPES[recipe or "default"], **flags)
    main = distributed.is_main_process()
    if main:
        console.print(f"dataset {layout_note}", highlight=False)
    if eval_every < 0:
        raise ConfigError(f"--eval-every must be >= 0 (0 turns it off); got {eval_every}")
    evaluator = _periodic_eval(out, eval_every, weights_dir, layout, source) if eval_every > 0 and main else None
    images = _find_training_images(layout, (source, target))
    # One `munit train` writes a run folder at a time: a second one (another terminal, a --resume while
    # the first still runs) would overwrite the first's checkpoints. Taken before anything is written.
    writing = folder_lock(out, TRAINING_LOCK, "munit train") if main and not dry_run else nullcontext()
    with writing:
        bad_images = _check_training_images(images, out, quiet=not main, keep=not dry_run)
        data = TrainData.from_images(layout, images, cfg, skip=bad_images)  # listed once, above
        if main:
            console.print(styled("munit train", "bold") + f" {source} ({len(data.datasets[0])} images) -> "
                          f"{target} ({len(data.datasets[1])} images), run folder {out}")
        if dry_run:
            console.print_json(json.dumps(to_dict(cfg)))
            return
        metrics = MetricsLogger(out)
        callbacks = [ConsoleProgress(), metrics, SampleWriter(out)]
        if evaluator is not None:
            evaluator.metrics = metrics
            callbacks.append(evaluator)
        trainer = Trainer(cfg, data, out, (source, target), device=str(dev), callbacks=callbacks, resume=resume)
        if main:
            precision_used = resolve_precision(cfg.precision, trainer.device)
            console.print(f"device {trainer.device}, precision {precision_used}"
                          f"{' (auto)' if cfg.precision == 'auto' else ''}, "
                          f"{trainer.dist.world_size} process(es), starting at step {trainer.step}", highlight=False)
        result = trainer.fit()
    report(result, out, main)


def _periodic_eval(out: Path, every: int, weights_dir: Path | None, layout: Layout, source: str):
    """The --eval-every callback, with everything it needs checked before the first step: the eval
    extra, the metric weights and the source domain's held-out images."""
    from ..callbacks import PeriodicEval
    from ..evaluation import held_out
    from ..metrics import load_feature_networks

    held_out(layout, source)
    return PeriodicEval(out, every, load_feature_networks(weights_dir), layout)


def _find_training_images(layout: Layout, domains: tuple[str, str]) -> dict[str, list[Path]]:
    """Each domain's training images; an error for an empty one, before anything is written."""
    from ..data import find_images, no_images_error

    paths = {name: find_images(layout.domain(name).train) for name in domains}
    for name, found in paths.items():
        if not found:
            raise no_images_error(name)
    return paths


def _check_training_images(paths: dict[str, list[Path]], out: Path, quiet: bool, keep: bool) -> set[Path]:
    """Decode every training image once before the first step; the unreadable ones (listed in
    OUT/bad_images.txt) are left out. Results are cached in OUT, so --resume checks only changed files."""
    from ..runs import BAD_IMAGES_FILE, IMAGE_CHECK_FILE
    from .data import check_domains

    results = check_domains(paths, cache_file=out / IMAGE_CHECK_FILE if keep and not quiet else None,
                            bad_list=out / BAD_IMAGES_FILE if keep and not quiet else None, quiet=quiet)
    return {path for result in results.values() for path in result.bad}


def report(result, out: Path, main: bool) -> None:
    if not main:
        if result.reason == "interrupted":
            raise typer.Exit(128 + signal.SIGINT)
        return
    if result.bad_images:
        console.print(styled(f"skipped {len(result.bad_images)} unreadable image(s)", "yellow")
                      + f"; first: {result.bad_images[0]}")
    console.print(f"samples: {out / 'samples' / 'index.html'}")
    if result.reason == "interrupted":
        console.print(styled("interrupted", "yellow") + f" at step {result.step}; checkpoint saved to "
                      f"{result.checkpoint}. Continue with: munit train --out {out} --resume")
        raise typer.Exit(128 + signal.SIGINT)
    console.print(styled("done", "green") + f": step {result.step}; final checkpoint {result.checkpoint}")
