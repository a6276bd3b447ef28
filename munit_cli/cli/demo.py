"""`munit demo`: see the whole tool work in a few minutes on a CPU, no dataset needed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._console import console, styled
from ._options import DeviceOpt

SCORED_SHAPES, SCORED_STYLES = 64, 4  # the demo's closing scores: new sketches x random styles each


def demo(
    out: Annotated[Path, typer.Option(help="Folder for the generated data and the run.")] = Path("munit-demo"),
    iterations: Annotated[int, typer.Option(help="Training iterations (3 to 8 per second on 2 CPU cores).")] = 4000,
    image_size: Annotated[int, typer.Option(help="Image size of the generated shapes.")] = 32,
    n_styles: Annotated[int, typer.Option(help="Styles per input in the final grid.")] = 6,
    device: DeviceOpt = "auto",
    seed: Annotated[int, typer.Option(help="Seed for the data and the training.")] = 0,
) -> None:
    """Generate a two-domain shapes dataset (line drawings vs. coloured shapes), train a small MUNIT on
    it, and write a grid of translations with several styles per input.

    Content is the geometry, style is the colour: sketch->paint should keep each shape and paint it
    in different colours.
    """
    from ..devices import select_device
    from ..files import folder_lock
    from ..runs import TRAINING_LOCK

    device = str(select_device(device))  # a missing device is an error before the dataset is drawn
    # One demo at a time in a folder, as `munit train` holds its run folder: two into one --out would
    # redraw the data and write the checkpoints under each other.
    with folder_lock(out, TRAINING_LOCK, "munit demo"):
        _train_and_show(out, iterations, image_size, n_styles, device, seed)


def _train_and_show(out: Path, iterations: int, image_size: int, n_styles: int, device: str, seed: int) -> None:
    """Draw the data, train (or continue an earlier demo in OUT), write the translations, print the scores."""
    from ..callbacks import MetricsLogger, SampleWriter
    from ..data import image_grid, save_image
    from ..demo import DEMO_TRAIN_IMAGES, DOMAINS, demo_train_config, make_shapes_dataset
    from ..inference import sample_styles, translate
    from ..quality import HeldOutShapes, score
    from ..train import TrainData, Trainer
    from ._progress import ConsoleProgress

    data_root = make_shapes_dataset(out / "data", n_train=DEMO_TRAIN_IMAGES, n_test=6, size=image_size, seed=seed)
    source, target = DOMAINS
    run = out / "runs" / f"{source}2{target}"
    config = demo_train_config(image_size=image_size, iterations=iterations, seed=seed, workers=0,
                               checkpoint_every=max(iterations // 2, 1), sample_every=max(iterations // 10, 1),
                               log_every=50, n_samples=6)
    console.print(styled("munit demo", "bold") + f": shapes dataset in {data_root}; training {iterations} "
                  f"iterations at {image_size}x{image_size} into {run}")
    data = TrainData.from_folder(data_root, source, target, config)
    earlier_run = (run / "checkpoints" / "resume.safetensors").exists()
    trainer = Trainer(config, data, run, (source, target), device=device,
                      callbacks=[ConsoleProgress(), MetricsLogger(run), SampleWriter(run)], resume=earlier_run)
    if earlier_run:  # a second `munit demo` continues the first rather than overwriting it
        plan = (f"training on to step {iterations}" if trainer.step < iterations
                else f"already past --iterations {iterations}: drawing the translations only")
        console.print(f"{run} holds an earlier demo run at step {trainer.step}: {plan} "
                      f"(--out elsewhere starts afresh)", highlight=False)
    result = trainer.fit()

    model = trainer.ema_model()  # the EMA generators: what translate, serve and export use
    x = data.samples[0].to(trainer.device)
    styles = sample_styles(n_styles, model.config.style_dim, seed=seed, device=trainer.device)
    results = translate(model.gen_a, model.gen_b, x, styles)
    grid = out / "translations.png"
    save_image(image_grid([[img, *row] for img, row in zip(x, results)],
                          ["input"] + [f"s{k}" for k in range(n_styles)]), grid)
    console.print(styled("done", "green") + f" ({result.step} steps). Translations: {grid}; samples over time: "
                  f"{run / 'samples' / 'index.html'}; checkpoint: {result.checkpoint}")
    # Scored against the truth the shapes generator knows (munit_cli.quality), on shapes never trained on.
    test = HeldOutShapes.draw(SCORED_SHAPES, image_size, SCORED_STYLES, seed=seed + 1)
    scored = translate(model.gen_a, model.gen_b, test.sketches.to(trainer.device),
                       sample_styles(SCORED_STYLES, model.config.style_dim, seed=seed + 1, device=trainer.device))
    scores, ceiling = score(scored, test.masks), score(test.paintings, test.masks)
    console.print(f"scores on {SCORED_SHAPES} new sketches x {SCORED_STYLES} styles: {scores.summary()} "
                  f"(real paintings: {ceiling.summary()})", highlight=False)
    console.print(f"try: munit translate {data_root / 'test' / source} --checkpoint {result.checkpoint} --n-styles 4")
