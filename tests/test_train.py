"""Training: real steps on generated images, resume equality, faults, interruption, CLI errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from munit_cli import LossWeights, TrainConfig, TrainingError, load_checkpoint
from munit_cli.callbacks import MetricsLogger, SampleWriter
from munit_cli.cli import app
from munit_cli.config import replace
from munit_cli.demo import make_shapes_dataset
from munit_cli.train import TrainData, Trainer

from .conftest import TINY_MODEL, TINY_TOML, tiny_train_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _trainer(root, out, resume=False, **changes) -> Trainer:
    config = tiny_train_config(**changes)
    data = TrainData.from_folder(root, "sketch", "paint", config)
    return Trainer(config, data, out, ("sketch", "paint"), device="cpu", resume=resume,
                   callbacks=[MetricsLogger(out), SampleWriter(out)])


def test_three_steps_write_the_expected_files(shapes_root, tmp_path):
    out = tmp_path / "run"
    trainer = _trainer(shapes_root, out, iterations=3, checkpoint_every=2, sample_every=2)
    result = trainer.fit()
    assert result.reason == "finished" and result.step == 3
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == ["latest.safetensors", "resume.safetensors", "step-00000002.safetensors",
                     "step-00000003.safetensors"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    for record in records:
        assert all(torch.isfinite(torch.tensor(v)) for k, v in record.items() if k.startswith(("gen/", "dis/")))
        assert record["lr"] == pytest.approx(trainer.config.lr)  # no decay before lr_step
        assert record["lr_dis"] == pytest.approx(trainer.config.lr_dis) and trainer.config.lr_dis != trainer.config.lr
    assert {"gen/recon_x_a", "gen/adv_b", "dis/total", "it_per_s"} <= set(records[0])
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["index.html", "step-00000002.png",
                                                                 "step-00000003.png"]
    index = (out / "samples" / "index.html").read_text()
    assert index.index("step-00000003.png") < index.index("step-00000002.png")  # newest first
    grid = Image.open(out / "samples" / "step-00000003.png")
    assert grid.width > 5 * 32 and grid.height > 4 * 32  # 4 rows of input, recon and 3 styles
    model = load_checkpoint(out / "checkpoints" / "latest.safetensors")
    assert model.step == 3 and model.domains == ("sketch", "paint")
    assert json.loads((out / "run.json").read_text())["source"] == "sketch"
    # The tiny model leaves its downsampling to the image size: at 32 pixels, once (a 16x16 content
    # code); config.json says so, and the checkpoint builds that shape again without knowing the size.
    assert TINY_MODEL.n_downsample is None and model.config.n_downsample == 1
    assert json.loads((out / "config.json").read_text())["model"]["n_downsample"] == 1
    assert model.gen_a.encode(torch.zeros(1, 3, 32, 32))[0].shape[-1] == 16


def test_tensorboard_event_files_hold_the_logged_scalars(shapes_root, tmp_path):
    """With the tensorboard extra installed, the scalars of metrics.jsonl also go to TensorBoard event
    files, read back here with TensorBoard's own reader."""
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    _trainer(shapes_root, out, iterations=3).fit()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    for key in ("gen/total", "dis/total", "lr"):
        logged = events.Scalars(key)
        assert [e.step for e in logged] == [r["step"] for r in records] == [1, 2, 3]
        # Event files store float32: a relative 1e-6 is float32 rounding with room to spare.
        assert [e.value for e in logged] == pytest.approx([r[key] for r in records], rel=1e-6)


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(out / "checkpoints" / "latest.safetensors").state_dict()


# sn: the power iteration's vectors are state too; augmentation draws from the random stream; a
# content discriminator has weights and optimiser moments of its own.
@pytest.mark.parametrize("dis_norm,dis_augment,content_dis", [("none", "none", False),
                                                             ("sn", "translation+cutout+colour", False),
                                                             ("sn", "none", True)])
def test_resume_gives_identical_weights(shapes_root, tmp_path, dis_norm, dis_augment, content_dis):
    changes = dict(ema_decay=0.9, model=replace(TINY_MODEL, dis_norm=dis_norm, content_dis=content_dis),
                   dis_augment=dis_augment)
    straight = tmp_path / "straight"
    _trainer(shapes_root, straight, iterations=4, **changes).fit()
    split = tmp_path / "split"
    _trainer(shapes_root, split, iterations=2, **changes).fit()
    result = _trainer(shapes_root, split, resume=True, iterations=4, **changes).fit()
    assert result.step == 4
    a, b = _weights(straight), _weights(split)
    assert a.keys() == b.keys()
    assert any(k.startswith("dis_content.") for k in a) == content_dis
    # Inference rebuilds the generators alone, leaving every discriminator's weights in the file.
    generators = load_checkpoint(split / "checkpoints" / "latest.safetensors", discriminators=False).state_dict()
    assert generators.keys() == {k for k in a if k.startswith(("gen_a.", "gen_b."))}
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ema_a = load_checkpoint(straight / "checkpoints" / "latest.safetensors", use_ema=True).state_dict()
    ema_b = load_checkpoint(split / "checkpoints" / "latest.safetensors", use_ema=True).state_dict()
    assert all(torch.equal(ema_a[k], ema_b[k]) for k in ema_a)


def test_ema_model_holds_the_ema_generators_and_no_discriminators(shapes_root, tmp_path):
    trainer = _trainer(shapes_root, tmp_path / "run", iterations=2, ema_decay=0.9)
    trainer.fit()
    model = trainer.ema_model()
    assert not model.has_discriminators and not model.training
    weights = model.state_dict()
    assert weights.keys() == trainer.ema.keys()
    assert all(torch.equal(weights[k], trainer.ema[k]) for k in weights)
    live = trainer.model.state_dict()
    assert any(not torch.equal(weights[k], live[k]) for k in weights)  # EMA, not the trained weights
    key = next(iter(weights))
    assert weights[key].data_ptr() != trainer.ema[key].data_ptr()  # a copy: evaluation cannot touch the EMA


def test_bad_and_odd_images_do_not_stop_training(tmp_path):
    root = make_shapes_dataset(tmp_path / "data", n_train=4, n_test=1, size=32)
    (root / "train" / "sketch" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    Image.new("RGB", (50, 40), "red").convert("CMYK").save(root / "train" / "paint" / "cmyk.jpg")
    Image.new("RGBA", (20, 20), (0, 0, 255, 100)).save(root / "train" / "paint" / "small_rgba.png")
    Image.new("L", (36, 36), 128).convert("P").save(root / "train" / "sketch" / "palette.png")
    result = _trainer(root, tmp_path / "run", iterations=6, batch_size=2).fit()
    assert result.reason == "finished" and result.step == 6
    assert result.bad_images == [str(root / "train" / "sketch" / "corrupt.png")]


def test_non_finite_loss_stops_with_clear_message(shapes_root, tmp_path):
    """The step does not read the loss from the device; the first bad step is remembered there and
    reported where the loop reads, and always before a checkpoint is written."""
    out = tmp_path / "run"
    _trainer(shapes_root, out, iterations=2).fit()
    before = (out / "checkpoints" / "latest.safetensors").read_bytes()
    trainer = _trainer(shapes_root, out, resume=True, iterations=6)
    x_a, x_b = trainer.data.samples
    trainer.train_step(torch.full_like(x_a, float("nan")), x_b)  # step 3
    trainer.train_step(x_a, x_b)  # step 4: NaN weights by now; the report still names step 3
    with pytest.raises(TrainingError, match=r"non-finite loss at step 3: gen/\w+ = nan.*checkpoint .* is intact"):
        trainer.save()
    assert (out / "checkpoints" / "latest.safetensors").read_bytes() == before


def test_fit_stops_at_the_next_log_step_naming_the_bad_step(shapes_root, tmp_path):
    trainer = _trainer(shapes_root, tmp_path / "run", iterations=12, log_every=5)
    healthy = trainer.train_step

    def poisoned(x_a, x_b):
        return healthy(x_a * float("inf") if trainer.step == 2 else x_a, x_b)

    trainer.train_step = poisoned
    with pytest.raises(TrainingError, match=r"non-finite loss at step 3: gen/"):
        trainer.fit()
    assert trainer.step == 5  # found at the first step that reads the device, not later
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_training_step_reads_nothing_from_the_device(shapes_root, tmp_path, precision):
    """No .item(), bool(tensor) or .tolist() in train_step: on a GPU each would stall the launches."""
    from torch.utils._python_dispatch import TorchDispatchMode

    syncs = []

    class SyncCounter(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default):
                syncs.append(func)
            return func(*args, **(kwargs or {}))

    trainer = _trainer(shapes_root, tmp_path / "run", precision=precision, ema_decay=0.999)
    x_a, x_b = trainer.data.samples
    trainer.train_step(x_a, x_b)
    with SyncCounter():
        trainer.train_step(x_a, x_b)
    assert syncs == []
    with SyncCounter():
        trainer.nonfinite.any_bad()
    assert len(syncs) == 1  # the counter does see a read


def test_sigint_saves_a_checkpoint_and_exits_cleanly(shapes_root, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "munit_cli", "train", str(shapes_root), "--source", "sketch", "--target", "paint",
           "--out", str(out), "--config", str(config), "--iterations", "100000", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        time.sleep(0.2)
    # While it trains, a second `munit train` into the folder is refused, and writes nothing there.
    files_before = sorted(p.relative_to(out) for p in out.rglob("*") if "samples" not in p.parts)
    second = subprocess.run([*cmd[:-4], "--resume", "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and "Traceback" not in second.stderr, second.stderr
    assert f"error: {out} is in use by another munit train (process {proc.pid})" in second.stderr, second.stderr
    assert files_before == sorted(p.relative_to(out) for p in out.rglob("*") if "samples" not in p.parts)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr and "interrupted at step" in stdout
    model = load_checkpoint(out / "checkpoints" / "latest.safetensors")
    assert 2 <= model.step < 100000
    # ... and the run continues from there.
    result = CliRunner().invoke(app, ["train", "--out", str(out), "--resume", "--iterations", str(model.step + 1),
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert load_checkpoint(out / "checkpoints" / "latest.safetensors").step == model.step + 1


def _cli(*args: str):
    return CliRunner().invoke(app, ["train", *args, "--device", "cpu"])


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.toml")))
def test_example_configs_are_valid_settings(name):
    """Each examples/*.toml is read as `munit train --config` reads it: a renamed or removed setting
    fails here, not on a user's first run. tiny.toml says it is the tests' model: it must stay so."""
    from munit_cli.cli.train import resolve_config

    config = resolve_config(EXAMPLES / name, None)
    if name == "tiny.toml":
        assert config.model == TINY_MODEL and config.image_size == 32
    if name == "afhq_dog2cat.toml":  # it says it carries the default recipe: it must not drift from it
        default = TrainConfig()
        run_length = ("iterations", "checkpoint_every", "keep_checkpoints", "sample_every")
        # (it spells out the downsampling the default leaves to the image size: two at 256)
        built = replace(config, model=config.built_model, **{k: getattr(default, k) for k in run_length})
        assert built == replace(default, model=default.built_model)


def test_a_bad_setting_is_named_where_it_was_given(tmp_path):
    """A flag's bad value names the flag, a file's names the file; and the file's value is checked only
    after the flags that override it are applied."""
    from munit_cli.cli.train import resolve_config
    from munit_cli.errors import ConfigError

    settings = tmp_path / "settings.toml"
    settings.write_text("lr = -1\n" + TINY_TOML)  # top-level keys before the [model] table
    with pytest.raises(ConfigError, match=r"^--batch-size must be a positive integer; got 0$"):
        resolve_config(None, None, batch_size=0)
    with pytest.raises(ConfigError, match=rf"^--config {re.escape(str(settings))}: lr must be > 0; got -1$"):
        resolve_config(settings, None, batch_size=2)
    settings.write_text(TINY_TOML.replace("image_size = 32", "image_size = 30"))
    assert resolve_config(settings, None, image_size=36).image_size == 36
    with pytest.raises(ConfigError, match=rf"^--config {re.escape(str(settings))}: image_size must be a multiple of 4; got 30$"):
        resolve_config(settings, None)


def test_cli_train_and_errors(shapes_root, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    out = tmp_path / "run"
    ok = _cli(str(shapes_root), "-s", "sketch", "-t", "paint", "--out", str(out), "--config", str(config),
              "--iterations", "2")
    assert ok.exit_code == 0, ok.output
    assert "final checkpoint" in ok.output and "latest.safetensors" in ok.output
    saved = json.loads((out / "config.json").read_text())
    assert saved["iterations"] == 2 and saved["model"]["gen_dim"] == 8  # flags and file both applied

    empty = tmp_path / "empty_root"
    (empty / "sketch").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(empty / "sketch" / "a.png")
    (empty / "paint").mkdir()
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("learning_rate = 3\n")
    cases = [
        ((str(tmp_path / "nowhere"), "-s", "a", "-t", "b"), "does not exist"),
        ((str(shapes_root), "-s", "sketch", "-t", "sketch"), "pick two different domains"),
        ((str(shapes_root), "-s", "sketch", "-t", "cat"), "domain 'cat' not found in .*domains found: paint, sketch"),
        ((str(empty), "-s", "sketch", "-t", "paint"), "domain 'paint' has no images"),
        ((str(shapes_root), "-s", "sketch", "-t", "paint", "--image-size", "30"), "--image-size must be a multiple of 4"),
        ((str(shapes_root), "-s", "sketch", "-t", "paint", "--image-size", "8"), "--image-size 8 is too small"),
        ((str(shapes_root), "-s", "sketch", "-t", "paint", "--config", str(bad_toml)),
         "--config .*bad.toml: unknown key.*learning_rate"),
        ((str(shapes_root), "-s", "sketch", "-t", "paint", "--out", str(out), "--config", str(config)),
         "already holds a training run; add --resume"),
        (("--out", str(tmp_path / "fresh"), "--resume"), "give the dataset ROOT"),
    ]
    for args, message in cases:
        result = _cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "error:" in result.output and "Traceback" not in result.output, result.output
        assert re.search(message, result.output.replace("\n", " ")), (message, result.output)
    assert not (tmp_path / "nowhere").exists() and not Path("runs").exists()


def test_resume_after_the_data_moved_says_so_and_takes_the_new_place(shapes_root, tmp_path):
    import shutil

    data, out, config = tmp_path / "data", tmp_path / "run", tmp_path / "tiny.toml"
    shutil.copytree(shapes_root, data)
    config.write_text(TINY_TOML)
    assert _cli(str(data), "--out", str(out), "--config", str(config), "--iterations", "1").exit_code == 0
    data.rename(tmp_path / "moved")
    lost = _cli("--out", str(out), "--resume", "--iterations", "2")
    assert lost.exit_code == 1 and "Traceback" not in lost.output
    message = " ".join(lost.output.split())
    assert f"the run's data is no longer at {data}" in message and "munit train ROOT --out" in message
    found = _cli(str(tmp_path / "moved"), "--out", str(out), "--resume", "--iterations", "2")
    assert found.exit_code == 0, found.output
    assert load_checkpoint(out / "checkpoints" / "latest.safetensors").step == 2


def test_cli_train_finds_the_two_domains_and_says_the_layout(shapes_root, tmp_path):
    result = _cli(str(shapes_root), "--out", str(tmp_path / "run"), "--dry-run")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert "split layout" in first and "source paint, target sketch (the two found)" in first


def test_cli_train_lists_each_domains_images_once(shapes_root, tmp_path, monkeypatch):
    """The images are listed once and that list serves the check and the dataset (a large folder on
    a network disk takes a while to list)."""
    import munit_cli.data
    import munit_cli.train

    listed = []
    find_images = munit_cli.data.find_images

    def counting(folder, *args, **kwargs):
        listed.append(Path(folder).relative_to(shapes_root).as_posix())
        return find_images(folder, *args, **kwargs)

    monkeypatch.setattr(munit_cli.data, "find_images", counting)
    monkeypatch.setattr(munit_cli.train, "find_images", counting)
    result = _cli(str(shapes_root), "--out", str(tmp_path / "run"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert sorted(listed) == ["test/paint", "test/sketch", "train/paint", "train/sketch"]  # held out: its own


def test_diversity_term_trains_and_leaves_other_recipes_alone(shapes_root, tmp_path):
    """ds_w > 0 draws a second style per image after the first ones, so the first step's other
    generator terms are those of the recipe without it (to float32 rounding: the decoders run one
    batch of 3N rather than 2N); without it there is no such term."""
    steps = {}
    for ds_w in (0.0, 1.0):
        config = tiny_train_config(iterations=1, loss=LossWeights(ds_w=ds_w))
        data = TrainData.from_folder(shapes_root, "sketch", "paint", config)
        trainer = Trainer(config, data, tmp_path / f"run-{ds_w}", ("sketch", "paint"), device="cpu")
        steps[ds_w] = trainer.train_step(*data.samples)
    assert steps[1.0]["gen/ds_a"] < 0 and steps[1.0]["gen/ds_b"] < 0
    assert "gen/ds_a" not in steps[0.0]
    for term in ("adv_a", "recon_x_b", "cyc_x_a", "recon_s_b"):
        torch.testing.assert_close(steps[0.0][f"gen/{term}"], steps[1.0][f"gen/{term}"], rtol=1e-4, atol=0)


def test_perceptual_loss_trains_with_random_vgg(shapes_root, tmp_path):
    """vgg_w > 0 adds the VGG16 relu5_3 term (random weights here: no download in tests)."""
    from munit_cli.perceptual import PerceptualLoss

    config = tiny_train_config(iterations=1, loss=LossWeights(vgg_w=1.0))
    data = TrainData.from_folder(shapes_root, "sketch", "paint", config)
    trainer = Trainer(config, data, tmp_path / "run", ("sketch", "paint"), device="cpu",
                      vgg_factory=lambda: PerceptualLoss(pretrained=False))
    x_a, x_b = data.samples
    losses = trainer.train_step(x_a, x_b)
    assert losses["gen/vgg_a"] > 0 and losses["gen/vgg_b"] > 0
    assert all(torch.isfinite(v) for v in losses.values())
    vgg = trainer.gen_objective.eager._vgg[0]
    assert not any(p.requires_grad for p in vgg.parameters())  # frozen


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out), "--iterations", "2", "--n-styles", "3",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    grid = Image.open(out / "translations.png")
    assert grid.width > 4 * 32 and grid.height > 6 * 32  # 6 sketches, input + 3 styles each
    assert load_checkpoint(out / "runs" / "sketch2paint" / "checkpoints" / "latest.safetensors").step == 2
    assert len(list((out / "data" / "train" / "paint").glob("*.png"))) == 300
    # Run again into the same folder: it continues the first run, and says so.
    again = CliRunner().invoke(app, ["demo", "--out", str(out), "--iterations", "3", "--n-styles", "3",
                                     "--device", "cpu"])
    assert again.exit_code == 0, again.output
    assert "earlier demo run at step 2: training on to step 3" in " ".join(again.output.split())
    assert load_checkpoint(out / "runs" / "sketch2paint" / "checkpoints" / "latest.safetensors").step == 3


def test_cli_train_from_two_folders_or_an_image_list_and_resume_remembers_them(shapes_root, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    # Domain "paint" as the released MUNIT's list format: one path a line, relative to the list.
    listing = tmp_path / "paint.txt"
    paint = sorted((shapes_root / "train" / "paint").glob("*.png"))
    listing.write_text("# paint\n" + "\n".join(os.path.relpath(p, tmp_path) for p in paint) + "\n")
    out = tmp_path / "run"
    result = _cli("--source-dir", str(shapes_root / "train" / "sketch"), "--target-dir", str(listing),
                  "--source-held-out", str(shapes_root / "test" / "sketch"), "--out", str(out),
                  "--config", str(config), "--iterations", "1")
    assert result.exit_code == 0, result.output
    assert "folders given" in result.output and "sketch (12 images) -> paint (12 images)" in result.output
    run = json.loads((out / "run.json").read_text())
    assert (run["source"], run["target"], run["layout"]) == ("sketch", "paint", "explicit")
    assert run["folders"]["sketch"]["held_out"] == str(shapes_root / "test" / "sketch")
    resumed = _cli("--out", str(out), "--resume", "--iterations", "2")
    assert resumed.exit_code == 0, resumed.output
    assert "folders given" in resumed.output and "final checkpoint" in resumed.output

    half = _cli("--source-dir", str(shapes_root / "train" / "sketch"), "--out", str(tmp_path / "other"))
    assert half.exit_code == 1 and "give both --source-dir and --target-dir" in half.output
