"""`munit eval`: FID and LPIPS diversity mean what they should, through the code path the real
networks take; small random-weight networks stand in for the downloaded ones (nothing can be
downloaded here), and the real loaders read files written in the real formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

pytest.importorskip("torchmetrics")
pytest.importorskip("torch_fidelity")

from torchmetrics.functional.image.lpips import _NoTrainLpips  # noqa: E402
from torchmetrics.image.fid import FrechetInceptionDistance  # noqa: E402

from munit_cli import load_checkpoint  # noqa: E402
from munit_cli.cli import app  # noqa: E402
from munit_cli.evaluation import EvalSettings, RealFeatures, evaluate_direction, mean_pairwise_lpips  # noqa: E402
from munit_cli.inference import translate  # noqa: E402
from munit_cli.layouts import discover  # noqa: E402
from munit_cli.metrics import INCEPTION_URL, FeatureNetworks, WeightsError, weights_file  # noqa: E402

from .conftest import write_metric_weights  # noqa: E402


class TinyFeatures(nn.Module):
    """A random convolutional feature network taking uint8 images, like the FID Inception."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, 2), nn.ReLU(), nn.Conv2d(16, 8, 3, 2), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float() / 127.5 - 1)


@pytest.fixture(scope="module")
def nets() -> FeatureNetworks:
    torch.manual_seed(0)
    return FeatureNetworks(TinyFeatures(), _NoTrainLpips(net="alex", pnet_rand=True))


def test_fid_of_a_set_against_itself_is_zero(nets):
    images = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8)
    others = torch.randint(0, 128, (40, 3, 32, 32), dtype=torch.uint8)
    fid = FrechetInceptionDistance(feature=nets.inception, reset_real_features=False)
    fid.update(images, real=True)
    fid.update(images, real=False)
    same = float(fid.compute())
    fid.reset()
    fid.update(others, real=False)
    different = float(fid.compute())
    assert different > 0.01 and abs(same) < 1e-4 * different


def test_fid_of_two_gaussian_feature_sets_matches_the_closed_form():
    """FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), with the sets' own means and covariances."""
    rng = np.random.default_rng(0)
    a = rng.multivariate_normal([0, 0, 0], np.diag([1.0, 2.0, 0.5]), size=500)
    b = rng.multivariate_normal([1, -1, 0.5], [[1.0, 0.3, 0], [0.3, 1.0, 0], [0, 0, 2.0]], size=500)
    features = nn.Flatten()  # the "images" are the features, [N, 3, 1, 1]
    features.num_features = 3
    fid = FrechetInceptionDistance(feature=features)
    fid.update(torch.tensor(a)[:, :, None, None].float(), real=True)
    fid.update(torch.tensor(b)[:, :, None, None].float(), real=False)
    a32, b32 = a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64)
    s1, s2 = np.cov(a32, rowvar=False), np.cov(b32, rowvar=False)
    trace_sqrt = np.sqrt(np.linalg.eigvals(s1 @ s2).real).sum()
    expected = ((a32.mean(0) - b32.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert float(fid.compute()) == pytest.approx(expected, rel=1e-4)


def test_lpips_diversity_is_zero_for_one_style_and_grows_with_different_styles(trained_checkpoint, nets):
    model = load_checkpoint(trained_checkpoint)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    one_style = torch.randn(1, model.config.style_dim).repeat(4, 1)
    same = translate(model.gen_a, model.gen_b, x, one_style)[0]
    different = translate(model.gen_a, model.gen_b, x, torch.randn(4, model.config.style_dim) * 3)[0]
    assert float(mean_pairwise_lpips(nets.lpips, same, 16)) == 0.0
    assert float(mean_pairwise_lpips(nets.lpips, different, 16)) > 1e-4


@pytest.mark.parametrize("mode", ["latent", "reference"])
def test_same_seed_same_numbers(trained_checkpoint, shapes_root, nets, mode):
    model = load_checkpoint(trained_checkpoint)
    layout = discover(shapes_root)
    reals = RealFeatures(nets, torch.device("cpu"))

    def run(seed: int):
        settings = EvalSettings(n_styles=3, mode=mode, seed=seed, batch_size=2, image_size=32).validate()
        return evaluate_direction(model, "A2B", layout, settings, nets, reals)

    first, again = run(0), run(0)
    assert (first.fid, first.lpips) == (again.fid, again.lpips)
    # Another seed draws other styles (with 2 reference images, one seed may draw the same ones).
    assert any((first.fid, first.lpips) != (r.fid, r.lpips) for r in (run(1), run(2), run(3)))
    assert first.n_inputs == 2 and first.n_outputs == 6 and first.n_real == 12 and first.fid > 0


def test_cli_eval_with_weights_dir_writes_json_and_errors_are_clear(trained_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    weights = tmp_path / "weights"
    runner = CliRunner()
    common = ["--device", "cpu", "--n-styles", "2", "--weights-dir", str(weights)]

    missing = runner.invoke(app, ["eval", str(trained_checkpoint), *common])
    assert missing.exit_code == 1 and "error:" in missing.output and "alexnet-owt-7be5be79.pth" in missing.output

    write_metric_weights(weights)
    result = runner.invoke(app, ["eval", str(trained_checkpoint), *common, "--out", "e.json"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["settings"]["n_styles"] == 2 and report["settings"]["layout"] == "split"
    (row,) = report["rows"]
    assert row["step"] == 2
    for key, (source, target) in (("a2b", ("sketch", "paint")), ("b2a", ("paint", "sketch"))):
        assert (row[key]["source"], row[key]["target"]) == (source, target)
        assert row[key]["n_inputs"] == 2 and row[key]["n_outputs"] == 4 and row[key]["n_real"] == 12
        assert np.isfinite(row[key]["fid"]) and row[key]["lpips"] >= 0

    # A run folder gives one row per numbered checkpoint (given with --checkpoint, as translate takes it).
    run_folder = trained_checkpoint.parent.parent
    result = runner.invoke(app, ["eval", "--checkpoint", str(run_folder), *common, "--direction", "a2b",
                                 "--out", "results/r.json"])  # a folder that does not exist yet
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "results" / "r.json").read_text())["rows"]
    assert [r["step"] for r in rows] == [2] and "b2a" not in rows[0]

    # An --out that cannot take the file stops eval before it evaluates anything.
    folder = runner.invoke(app, ["eval", str(trained_checkpoint), *common, "--out", "results"])
    assert folder.exit_code == 1 and "results: Is a directory" in folder.output
    assert "FID" not in folder.output  # no results table: nothing was computed


@pytest.mark.parametrize("layout, message", [
    ({"train/a": 3, "train/b": 3, "test/a": 1, "test/b": 2}, "domain 'a' needs at least 2 held-out images"),
    ({"a": 3, "b": 3}, "domain .a. has no held-out images \\(flat layout.*use ROOT/train/a \\+ ROOT/test/a"),
])
def test_too_few_held_out_images_is_an_error(trained_checkpoint, tmp_path, nets, layout, message):
    from PIL import Image

    from munit_cli.errors import DataError

    for folder, count in layout.items():
        (tmp_path / folder).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(tmp_path / folder / f"{i}.png")
    model = load_checkpoint(trained_checkpoint)
    model.domains = ("a", "b")
    with pytest.raises(DataError, match=message):
        evaluate_direction(model, "A2B", discover(tmp_path), EvalSettings(n_styles=2, image_size=32), nets,
                           RealFeatures(nets, torch.device("cpu")))


def test_a_missing_domain_and_undownloadable_weights_are_clear_errors(trained_checkpoint, tmp_path, monkeypatch):
    runner = CliRunner()
    (tmp_path / "data" / "train" / "dog").mkdir(parents=True)
    result = runner.invoke(app, ["eval", str(trained_checkpoint), "--data", str(tmp_path / "data"), "--device", "cpu",
                                 "--weights-dir", str(tmp_path)])
    assert result.exit_code == 1 and "error:" in result.output
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def no_network(url, dst, progress=True):
        raise OSError("network unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(WeightsError, match=r"cannot download weights-inception.*put it in .*hub/checkpoints"):
        weights_file(INCEPTION_URL, None)


def test_eval_every_logs_fid_and_lpips_and_shows_them_on_the_sample_page(shapes_root, tmp_path, nets):
    from munit_cli.callbacks import MetricsLogger, PeriodicEval, SampleWriter
    from munit_cli.train import TrainData, Trainer

    from .conftest import tiny_train_config

    config = tiny_train_config(iterations=4, ema_decay=0.9, log_every=2)
    data = TrainData.from_folder(shapes_root, "sketch", "paint", config)
    out = tmp_path / "run"
    metrics = MetricsLogger(out)
    evaluator = PeriodicEval(out, 2, nets, discover(shapes_root), metrics, max_inputs=2, n_styles=2)
    Trainer(config, data, out, ("sketch", "paint"), device="cpu", callbacks=[metrics, SampleWriter(out), evaluator]).fit()

    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/fid" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert all(np.isfinite(r["eval/fid"]) and r["eval/lpips"] > 0 for r in evals)
    page = (out / "samples" / "index.html").read_text()
    assert "Evaluations" in page and "sketch2paint" in page and f"{evals[-1]['eval/fid']:.2f}" in page


def test_eval_every_without_weights_stops_before_any_work(shapes_root, tmp_path):
    from .conftest import TINY_TOML

    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    result = CliRunner().invoke(app, ["train", str(shapes_root), "-s", "sketch", "-t", "paint", "--config",
                                      str(tmp_path / "tiny.toml"), "--out", str(tmp_path / "run"), "--device", "cpu",
                                      "--eval-every", "2", "--weights-dir", str(tmp_path / "none")])
    assert result.exit_code == 1 and "error: --weights-dir" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
