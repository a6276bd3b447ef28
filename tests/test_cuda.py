"""The commands on a real GPU, each in its own process (skipped without one, as in CI).

Run them with ``pytest -m cuda`` on a machine with CUDA. Training there takes the default CUDA
path: the compiled step with CUDA graphs (``compiling.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from .conftest import TINY_TOML
from .test_cli_processes import imported, munit, ok, photos  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int16)


def test_train_compiled_then_resume_continues_the_run(shapes_root, tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    common = ("--config", "tiny.toml", "--device", "cuda", "--precision", "bf16")
    args = ("train", str(shapes_root), "-s", "sketch", "-t", "paint", *common)
    output = ok(munit(*args, "--iterations", "6", "--out", "straight", cwd=tmp_path))
    assert "device cuda:" in output and "compiling the training step" in output and "compiled in" in output
    assert "final checkpoint" in output
    ok(munit(*args, "--iterations", "4", "--out", "resumed", cwd=tmp_path))
    ok(munit("train", "--resume", "--iterations", "6", "--out", "resumed", *common, cwd=tmp_path))
    straight = load_file(tmp_path / "straight" / "checkpoints" / "latest.safetensors")
    resumed = load_file(tmp_path / "resumed" / "checkpoints" / "latest.safetensors")
    assert straight.keys() == resumed.keys()
    # Bit-exact on a CPU (test_train.py); on CUDA, cuDNN's autotuning and the atomic adds of some
    # backward kernels (reflection padding) differ between processes by float32 rounding.
    for name in straight:
        torch.testing.assert_close(straight[name], resumed[name], rtol=1e-3, atol=1e-5, msg=name)


def test_translate_and_style_sample_match_the_cpu(imported, photos, tmp_path):  # noqa: F811
    # --batch-size 1: the second photo is a repeated batch shape, which CUDA replays as a graph.
    for device in ("cpu", "cuda"):
        ok(munit("translate", *map(str, photos), "--checkpoint", str(imported), "-n", "3", "--image-size", "32",
                 "--batch-size", "1", "--seed", "1", "--precision", "fp32", "--device", device, "--out", device,
                 cwd=tmp_path))
        ok(munit("style-sample", *map(str, photos), "--checkpoint", str(imported), "-n", "2", "--image-size", "32",
                 "--precision", "fp32", "--device", device, "--out", f"{device}.png", cwd=tmp_path))
    for stem in ("a", "b"):
        for i in range(3):
            cpu, cuda = (_pixels(tmp_path / d / f"{stem}_style{i}.png") for d in ("cpu", "cuda"))
            # cuDNN may use TF32 (10-bit mantissa) for float32 convolutions: a few levels at most, rarely.
            assert np.abs(cpu - cuda).mean() < 1.0 and np.abs(cpu - cuda).max() <= 8, (stem, i)
    assert Image.open(tmp_path / "cpu.png").size == Image.open(tmp_path / "cuda.png").size


def test_replayed_translate_matches_eager_for_new_inputs():
    """The first call of a shape runs eagerly, the second captures a graph, later ones replay it:
    each must translate its own images, not the ones the graph was recorded with."""
    from munit_cli import MUNIT, ModelConfig
    from munit_cli.devices import choose_paths
    from munit_cli.inference import ReplayedTranslate, sample_styles, translate

    torch.manual_seed(0)
    model = choose_paths(MUNIT(ModelConfig(gen_dim=8, mlp_dim=16, n_res=1), discriminators=False).cuda().eval(), "cuda")
    styles = sample_styles(3, model.config.style_dim, seed=0, device="cuda")
    replayed = ReplayedTranslate(model.gen_a, model.gen_b, styles)
    for call in range(4):
        images = torch.rand(2, 3, 32, 32, device="cuda") * 2 - 1
        got = replayed(images)
        want = translate(model.gen_a, model.gen_b, images, styles)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4, msg=f"call {call}")
    assert len(replayed._graphs) == 1
    assert not torch.equal(replayed(images * 0), want)  # the output follows the input


def test_export_onnx_from_cuda(imported, tmp_path):  # noqa: F811
    pytest.importorskip("onnxruntime")
    output = ok(munit("export", "--checkpoint", str(imported), "--format", "onnx", "--device", "cuda",
                      "--output", "g", cwd=tmp_path))
    assert (tmp_path / "g.translate.onnx").is_file() and "largest difference" in output


def test_bf16_working_copies_follow_autocast_on_cuda():
    """On one CUDA device the trainer computes with bf16 weight copies (precision.WorkingCopies);
    plain autocast gives the same losses up to the GPU's nondeterministic sums."""
    from munit_cli.precision import WorkingCopies
    from munit_cli.train import Trainer

    from .conftest import tiny_train_config

    def trainer(copies: bool) -> Trainer:
        torch.manual_seed(0)
        t = Trainer(tiny_train_config(precision="bf16", compile=False), None, "/nonexistent", ("a", "b"),
                    device="cuda")
        assert t.working.enabled
        if not copies:
            t.working = WorkingCopies(t.model, torch.bfloat16, enabled=False)
        return t

    with_copies, plain = trainer(True), trainer(False)
    g = torch.Generator().manual_seed(1)
    for step in range(3):
        x_a, x_b = (torch.rand(2, 3, 32, 32, generator=g).cuda() * 2 - 1 for _ in range(2))
        torch.manual_seed(step)
        got = with_copies.train_step(x_a, x_b)
        torch.manual_seed(step)
        want = plain.train_step(x_a, x_b)
        for name in want:  # bf16 has 8 significant bits; atomic adds reorder a few sums
            torch.testing.assert_close(got[name], want[name], rtol=2e-2, atol=2e-3, msg=f"step {step}: {name}")
