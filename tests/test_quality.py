"""The quality scores against ground truth, and the recipe pieces the benchmark chose between:
EMA warm-up, the discriminators' own learning rate, lazy R1, the released preset."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from munit_cli.cli import app
from munit_cli.config import RELEASED, TrainConfig, replace
from munit_cli.errors import ConfigError
from munit_cli.losses import r1_penalty
from munit_cli.quality import HeldOutShapes, score
from munit_cli.train import Trainer, ema_decay_at, lr_at

from .conftest import tiny_train_config


@pytest.fixture(scope="module")
def held_out() -> HeldOutShapes:
    return HeldOutShapes.draw(16, 32, 3, seed=5)


def test_real_paintings_score_perfectly_and_sketches_do_not_look_painted(held_out):
    ceiling = score(held_out.paintings, held_out.masks)
    assert ceiling.content_kept == 1.0 and ceiling.target_likeness == 1.0 and ceiling.diversity > 0.2
    assert ceiling.even_fill == 1.0
    sketches = score(held_out.sketches[:, None].expand(-1, 3, -1, -1, -1), held_out.masks)
    assert sketches.target_likeness == 0.0 and sketches.content_kept < 0.6 and sketches.diversity == 0.0


def test_scores_fall_for_a_moved_shape_noise_and_a_grey_image(held_out):
    moved = score(held_out.paintings.roll(8, dims=-1), held_out.masks)
    assert moved.content_kept < 0.7 and moved.target_likeness > 0.9  # still painted, in the wrong place
    noise = score(torch.rand_like(held_out.paintings) * 2 - 1, held_out.masks)
    assert noise.content_kept < 0.5 and noise.target_likeness == 0.0
    grey = score(torch.zeros_like(held_out.paintings), held_out.masks)
    assert grey.content_kept == 0.0 and grey.target_likeness == 0.0 and grey.diversity == 0.0


def test_a_mottled_fill_is_not_painted(held_out):
    """Noise inside the shape (the demo's old 'mottled blobs') fails the even-fill test, while the
    shape's outline, hence the IoU, is kept."""
    mottled = held_out.paintings + 0.5 * torch.randn_like(held_out.paintings) * held_out.masks[:, None, None]
    result = score(mottled.clamp(-1, 1), held_out.masks)
    assert result.target_likeness < 0.2 and result.content_kept > 0.7
    assert result.even_fill < 0.5


def test_even_fill_grades_a_rim_by_its_share_of_the_shape(held_out):
    """A painted shape with a one-pixel rim of another colour (what the demo's translations show)
    still fills its mask, but only its inside is even: the score falls by about the rim's share."""
    masks = held_out.masks[:, None, None].float()
    inside = (1 - F.max_pool2d(1 - held_out.masks[:, None].float(), 3, stride=1, padding=1))[:, None]
    rim = masks - inside
    rimmed = held_out.paintings * (1 - rim) + rim * 1.0  # a white rim (far from most fills)
    result = score(rimmed, held_out.masks)
    rim_share = (rim.sum() / masks.sum()).item()
    assert result.content_kept > 0.9
    assert result.even_fill == pytest.approx(1 - rim_share, abs=0.08)
    assert result.even_fill < 0.9


def test_a_thin_rim_still_looks_painted_but_a_two_coloured_shape_does_not():
    """People call a shape with a thin rim of another colour painted (the calibration's labels):
    the even-fill test looks at the shape's core. A shape painted in two colours, half and half,
    is not one even colour however its edge looks."""
    shapes = HeldOutShapes.draw(16, 64, 2, seed=5)
    masks = shapes.masks[:, None, None].float()
    inside = (1 - F.max_pool2d(1 - shapes.masks[:, None].float(), 3, stride=1, padding=1))[:, None]
    rim = masks - inside
    rimmed = score(shapes.paintings * (1 - rim) + rim * 1.0, shapes.masks)
    assert rimmed.target_likeness == 1.0 and rimmed.even_fill < 0.9
    # each shape's left half red and right half blue, on grey
    columns = torch.arange(64).float()
    centre = (shapes.masks.float() * columns).sum((1, 2)) / shapes.masks.sum((1, 2))
    right = (columns > centre[:, None, None]) & shapes.masks
    red, blue = torch.tensor([1.0, -1, -1]), torch.tensor([-1.0, -1, 1])
    two_coloured = (shapes.masks & ~right)[:, None, :, :, None] * red + right[:, None, :, :, None] * blue
    result = score(two_coloured.expand(-1, 2, -1, -1, -1).permute(0, 1, 4, 2, 3), shapes.masks)
    assert result.content_kept == 1.0 and result.target_likeness == 0.0


def test_ema_warms_up_then_holds_its_decay():
    assert ema_decay_at(0, 0.999) == pytest.approx(0.1)
    assert ema_decay_at(80, 0.999) == pytest.approx(0.9)
    assert ema_decay_at(100_000, 0.999) == 0.999
    assert ema_decay_at(0, 0.5) == 0.1 and ema_decay_at(10, 0.5) == 0.5
    # a warm-up of 2 is the plain mean of the steps so far: the (1+t)-th update weighs 1 / (2+t)
    assert ema_decay_at(8, 0.999, warmup=2) == pytest.approx(9 / 10)
    assert ema_decay_at(8, 0.5, warmup=2) == 0.5


def test_the_first_ema_update_weighs_the_trained_weights_by_the_warm_up():
    trainer = Trainer(tiny_train_config(ema_decay=0.999), None, "/nonexistent", ("a", "b"), device="cpu")
    before = {k: v.clone() for k, v in trainer.ema.items()}
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    trainer.train_step(x, x)
    live = trainer.generator_state()
    key = "gen_a.dec.output.conv.weight" if "gen_a.dec.output.conv.weight" in live else next(iter(live))
    torch.testing.assert_close(trainer.ema[key], 0.1 * before[key] + 0.9 * live[key])


def test_the_discriminators_learning_rate_is_their_own():
    trainer = Trainer(tiny_train_config(lr=1e-4, lr_dis=4e-4, lr_step=1, lr_gamma=0.5), None, "/nonexistent",
                      ("a", "b"), device="cpu")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    trainer.train_step(x, x)
    trainer.train_step(x, x)  # the second step's rates: halved once
    assert trainer.opt_gen.param_groups[0]["lr"] == pytest.approx(0.5e-4)
    assert trainer.opt_dis.param_groups[0]["lr"] == pytest.approx(2e-4)


def test_the_learning_rates_fall_linearly_to_zero_over_the_last_share_of_the_run():
    config = tiny_train_config(lr=1e-4, lr_dis=4e-4, iterations=8, lr_decay=0.5)  # constant to step 4
    assert [lr_at(step, config) for step in range(8)] == pytest.approx(
        [1e-4] * 4 + [1e-4, 0.75e-4, 0.5e-4, 0.25e-4])
    trainer = Trainer(config, None, "/nonexistent", ("a", "b"), device="cpu")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    for _ in range(7):
        trainer.train_step(x, x)  # the seventh step (step 6) runs at half the rates
    assert trainer.opt_gen.param_groups[0]["lr"] == pytest.approx(0.5e-4)
    assert trainer.opt_dis.param_groups[0]["lr"] == pytest.approx(2e-4)
    with_steps = replace(config, lr_step=2, lr_gamma=0.5)  # the step schedule first, then the fall
    assert lr_at(6, with_steps) == pytest.approx(1e-4 * 0.5 ** 3 * 0.5)
    assert lr_at(7, tiny_train_config(iterations=8)) == tiny_train_config().lr  # off by default
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match="lr_decay"):
            tiny_train_config(lr_decay=bad).validate()


def test_r1_penalises_the_gradient_at_real_images_every_k_steps():
    config = tiny_train_config(r1_gamma=10.0, r1_every=2)
    trainer = Trainer(config, None, "/nonexistent", ("a", "b"), device="cpu")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    penalty = r1_penalty(trainer.model.dis_a, x)
    assert penalty.item() > 0 and penalty.requires_grad
    calls = []
    original = trainer._penalise_real_gradients
    trainer._penalise_real_gradients = lambda *args: calls.append(trainer.step) or original(*args)
    for _ in range(4):
        trainer.train_step(x, x)
    assert calls == [0, 2]
    # and it changes the discriminators: the same steps without R1 end elsewhere
    plain = Trainer(tiny_train_config(), None, "/nonexistent", ("a", "b"), device="cpu")
    torch.manual_seed(0)
    with_r1 = Trainer(config, None, "/nonexistent", ("a", "b"), device="cpu")
    for t in (plain, with_r1):
        torch.manual_seed(1)
        t.train_step(x, x)
    assert any(not torch.equal(a, b) for a, b in zip(plain.model.dis_a.parameters(), with_r1.model.dis_a.parameters()))


def test_the_released_recipe_is_one_flag_away(shapes_root, tmp_path):
    """--recipe released starts from the 2018 recipe whatever the defaults are; flags still override it."""
    result = CliRunner().invoke(app, ["train", str(shapes_root), "--out", str(tmp_path / "run"), "--device", "cpu",
                                      "--recipe", "released", "--image-size", "64", "--dry-run"])
    assert result.exit_code == 0, result.output
    config = json.loads(result.output[result.output.index("{"):])
    expected = {**json.loads(json.dumps(RELEASED.__dict__, default=lambda o: o.__dict__)), "image_size": 64}
    assert config == expected
    assert (config["lr"], config["beta1"], config["weight_decay"], config["ema_decay"], config["batch_size"]) == (
        1e-4, 0.5, 1e-4, 0.0, 1)
    assert config["model"]["gan_type"] == "lsgan" and not config["reuse_translations"]
    bad = CliRunner().invoke(app, ["train", str(shapes_root), "--device", "cpu", "--recipe", "2018", "--dry-run"])
    assert bad.exit_code == 1 and "--recipe must be one of default, released" in bad.output


def test_train_help_gives_both_recipes_defaults_where_they_differ():
    help_text = " ".join(CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "[default: 4; --recipe released: 1]" in help_text  # batch size
    assert "[default: auto; --recipe released: fp32]" in help_text  # precision
    assert "[default: 256]" in help_text  # image size: the same in both


def test_a_config_saved_before_a_setting_existed_keeps_the_old_behaviour():
    """A run saved before lr_dis/r1_gamma existed resumes as it trained (not with newer defaults)."""
    from munit_cli.resume import config_from_saved

    saved = json.loads(json.dumps(TrainConfig().__dict__, default=lambda o: o.__dict__))
    for key in ("lr_dis", "r1_gamma", "r1_every"):
        saved.pop(key)
    config = config_from_saved(saved)
    assert config.lr_dis is None and config.r1_gamma == 0.0


def test_the_samples_page_enlarges_small_grids_without_smoothing(tmp_path):
    from PIL import Image

    from munit_cli.data import write_sample_index

    small, large = tmp_path / "small", tmp_path / "large"  # two runs' sample folders
    for folder, width in ((small, 100), (large, 2000)):
        folder.mkdir()
        for step in (1, 2):
            Image.new("RGB", (width, 60)).save(folder / f"step-0000000{step}.png")
    page = write_sample_index(small).read_text()
    assert '<img src="step-00000001.png" width="400">' in page and 'src="step-00000002.png" width="400">' in page
    assert "image-rendering:pixelated" in page
    assert '<img src="step-00000002.png">' in write_sample_index(large).read_text()  # large enough as it is
