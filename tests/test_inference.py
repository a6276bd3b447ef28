"""translate, style-sample and export through the CLI, on a real (tiny) trained checkpoint."""

from __future__ import annotations

import errno
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from munit_cli import load_checkpoint
from munit_cli.checkpoint import load_styles, save_styles
from munit_cli.cli import app
from munit_cli.inference import interpolate_styles, sample_styles, translate


def run(*args: str, cwd: Path | None = None):
    if cwd is None:
        return CliRunner().invoke(app, list(args))
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        os.chdir(old)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.fixture
def inputs(shapes_root) -> Path:
    return shapes_root / "test" / "sketch"


def test_translate_files_and_folders(trained_checkpoint, inputs, tmp_path):
    out = tmp_path / "out"
    single = next(inputs.iterdir())
    result = run("translate", str(inputs), str(single), "-n", "3", "--checkpoint", str(trained_checkpoint),
                 "--out", str(out), "--device", "cpu")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    stems = sorted(p.stem for p in inputs.iterdir())
    assert re.search(rf"translated {len(stems) + 1} image\(s\) A2B into 3 style\(s\) each in [\d.]+ s", result.output)
    # The single file repeats one from the folder: its outputs get a -1 suffix instead of overwriting.
    expected = {f"{s}_style{k}.png" for s in stems for k in range(3)} | {f"{s}_grid.png" for s in stems}
    expected |= {f"{single.stem}-1_style{k}.png" for k in range(3)} | {f"{single.stem}-1_grid.png"}
    assert set(names) == expected
    assert pixels(out / f"{stems[0]}_style0.png").shape == (32, 32, 3)  # the training size
    assert pixels(out / f"{stems[0]}_grid.png").shape[1] > 4 * 32


def test_same_seed_same_pixels_and_styles_differ(trained_checkpoint, inputs, tmp_path):
    outs = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        result = run("translate", str(inputs), "-n", "2", "--seed", seed, "--checkpoint", str(trained_checkpoint),
                     "--out", str(tmp_path / name), "--device", "cpu")
        assert result.exit_code == 0, result.output
        outs.append(tmp_path / name)
    stem = sorted(p.stem for p in inputs.iterdir())[0]
    same = [pixels(o / f"{stem}_style0.png") for o in outs]
    assert np.array_equal(same[0], same[1])
    assert not np.array_equal(same[0], same[2])


def test_translate_batches_all_styles_together_matches_one_by_one(trained_checkpoint):
    model = load_checkpoint(trained_checkpoint)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    styles = sample_styles(5, model.config.style_dim, seed=1)
    batched = translate(model.gen_a, model.gen_b, x, styles, chunk=4)
    with torch.no_grad():
        for i in range(3):
            for k in range(5):
                one = model.gen_b.decode(model.gen_a.enc_content(x[i:i + 1]), styles[k:k + 1])
                torch.testing.assert_close(batched[i, k], one[0], atol=1e-5, rtol=1e-5)


def test_a_channels_last_model_on_the_cuda_paths_translates_as_the_nchw_one(trained_checkpoint):
    """The CUDA layer paths with NHWC weights and images (the norms then keep the layout): the same
    translations, styles batched and a batch-1 content shared by all of them, to float32 rounding."""
    from munit_cli.devices import choose_paths

    model = choose_paths(load_checkpoint(trained_checkpoint), "cuda")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    styles = sample_styles(3, model.config.style_dim, seed=1)
    want = translate(model.gen_a, model.gen_b, x, styles, chunk=3)
    model = model.to(memory_format=torch.channels_last)
    got = translate(model.gen_a, model.gen_b, x.contiguous(memory_format=torch.channels_last), styles, chunk=3)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_style_ref_is_deterministic_and_differs_from_random(trained_checkpoint, inputs, shapes_root, tmp_path):
    ref = next((shapes_root / "test" / "paint").iterdir())
    args = ["--checkpoint", str(trained_checkpoint), "--device", "cpu"]
    for name in ("r1", "r2"):
        assert run("translate", str(inputs), "--style-ref", str(ref), "--out", str(tmp_path / name), *args).exit_code == 0
    assert run("translate", str(inputs), "-n", "1", "--out", str(tmp_path / "rand"), *args).exit_code == 0
    stem = sorted(p.stem for p in inputs.iterdir())[0]
    r1, r2, rand = (pixels(tmp_path / n / f"{stem}_style0.png") for n in ("r1", "r2", "rand"))
    assert np.array_equal(r1, r2) and not np.array_equal(r1, rand)
    assert not (tmp_path / "r1" / f"{stem}_style1.png").exists()  # one reference, one style
    # A folder of references: one style per image in it, in the folder's sorted order.
    references = shapes_root / "test" / "paint"
    assert run("translate", str(inputs), "--style-ref", str(references), "--out", str(tmp_path / "folder"),
               *args).exit_code == 0
    n = len(list(references.iterdir()))
    assert (tmp_path / "folder" / f"{stem}_style{n - 1}.png").exists()
    assert not (tmp_path / "folder" / f"{stem}_style{n}.png").exists()
    first = sorted(references.iterdir())[0]
    assert run("translate", str(inputs), "--style-ref", str(first), "--out", str(tmp_path / "first"),
               *args).exit_code == 0
    assert np.array_equal(pixels(tmp_path / "folder" / f"{stem}_style0.png"),
                          pixels(tmp_path / "first" / f"{stem}_style0.png"))


def test_saved_styles_are_reused(trained_checkpoint, inputs, tmp_path):
    styles_file = tmp_path / "styles.safetensors"
    grid = tmp_path / "grid.png"
    content = sorted(inputs.iterdir())[:1]
    result = run("style-sample", str(content[0]), "-n", "3", "--seed", "5", "--save-styles",
                 str(styles_file), "--out", str(grid), "--checkpoint", str(trained_checkpoint), "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert grid.exists() and load_styles(styles_file, 4).shape == (3, 4)
    a = run("translate", str(content[0]), "--styles", str(styles_file), "--out", str(tmp_path / "a"),
            "--checkpoint", str(trained_checkpoint), "--device", "cpu")
    b = run("translate", str(content[0]), "-n", "3", "--seed", "5", "--out", str(tmp_path / "b"),
            "--checkpoint", str(trained_checkpoint), "--device", "cpu")
    assert a.exit_code == 0 and b.exit_code == 0
    for k in range(3):  # saved styles reproduce the styles that seed drew
        name = f"{content[0].stem}_style{k}.png"
        assert np.array_equal(pixels(tmp_path / "a" / name), pixels(tmp_path / "b" / name))


def test_interpolation_endpoints_are_the_two_styles(trained_checkpoint):
    model = load_checkpoint(trained_checkpoint)
    s0, s1 = sample_styles(2, model.config.style_dim, seed=3)
    walk = interpolate_styles(s0, s1, 5)
    assert torch.equal(walk[0], s0) and torch.equal(walk[-1], s1)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    walked = translate(model.gen_a, model.gen_b, x, walk)
    ends = translate(model.gen_a, model.gen_b, x, torch.stack([s0, s1]))
    torch.testing.assert_close(walked[:, [0, -1]], ends)


def test_style_sample_defaults_and_interpolate_cli(trained_checkpoint, shapes_root, tmp_path):
    ref = next((shapes_root / "test" / "paint").iterdir())
    out = tmp_path / "walk.png"
    # No content images: the run's held-out source images, found through the run folder.
    result = run("style-sample", "--interpolate", "3", str(ref), "--steps", "4", "--out", str(out),
                 "--checkpoint", str(trained_checkpoint), "--device", "cpu")
    assert result.exit_code == 0, result.output
    held_out = shapes_root / "test" / "sketch"
    assert f"content: 2 held-out image(s) of sketch from {held_out}" in result.output.replace("\n", ""), result.output
    img = Image.open(out)
    assert img.width > 5 * 32 and img.height > 2 * 32  # content + 4 steps, 2 held-out rows


def test_newest_run_is_found_from_the_current_folder(trained_checkpoint, inputs, tmp_path):
    project = trained_checkpoint.parents[3]  # the folder holding runs/
    result = run("translate", str(next(inputs.iterdir())), "-n", "1", "--out", str(tmp_path / "o"),
                 "--device", "cpu", cwd=project)
    assert result.exit_code == 0, result.output
    assert "using checkpoint" in result.output
    empty = run("translate", str(next(inputs.iterdir())), cwd=tmp_path)
    assert empty.exit_code == 1 and "no trained model found" in empty.output and "munit train" in empty.output


def test_export_bundle_round_trip(trained_checkpoint, inputs, tmp_path):
    bundle = tmp_path / "bundle.safetensors"
    result = run("export", "--checkpoint", str(trained_checkpoint), "-o", str(bundle))
    assert result.exit_code == 0, result.output
    assert "MiB" in result.output
    assert bundle.stat().st_size < trained_checkpoint.stat().st_size  # no discriminators
    for name, ckpt in (("from_train", trained_checkpoint), ("from_bundle", bundle)):
        assert run("translate", str(inputs), "-n", "2", "--out", str(tmp_path / name), "--checkpoint", str(ckpt),
                   "--device", "cpu").exit_code == 0
    for f in (tmp_path / "from_train").iterdir():
        assert np.array_equal(pixels(f), pixels(tmp_path / "from_bundle" / f.name)), f.name
    half = tmp_path / "half.safetensors"
    assert run("export", "--checkpoint", str(trained_checkpoint), "-o", str(half), "--half").exit_code == 0
    assert half.stat().st_size < 0.6 * bundle.stat().st_size
    assert run("style-sample", "-n", "2", "--checkpoint", str(half), str(next(inputs.iterdir())),
               "--out", str(tmp_path / "h.png")).exit_code == 0


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")
def test_export_onnx_matches_pytorch(trained_checkpoint, tmp_path):
    result = run("export", "--format", "onnx", "--checkpoint", str(trained_checkpoint), "-o", str(tmp_path / "m"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.translate.onnx").exists() and (tmp_path / "m.style.onnx").exists()
    import onnxruntime as ort
    model = load_checkpoint(trained_checkpoint, use_ema=True)  # export ships the EMA generators
    session = ort.InferenceSession(str(tmp_path / "m.translate.onnx"), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, 40, 48) * 2 - 1  # a batch and size the export never saw
    s = torch.randn(2, model.config.style_dim)
    got = session.run(["translated"], {"image": x.numpy(), "style": s.numpy()})[0]
    with torch.no_grad():
        want = model.gen_b.decode(model.gen_a.enc_content(x), s)
    assert np.abs(got - want.numpy()).max() < 1e-4


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")
def test_export_onnx_of_a_model_set_up_for_cuda(tmp_path):
    """`munit export --device cuda` loads the model on the CUDA layer paths (fused norms that view the
    batch as channels); the graphs must still take any batch, and the model keep its paths."""
    from munit_cli import MUNIT
    from munit_cli.devices import choose_paths, path_switches
    from munit_cli.export import export_onnx

    from .conftest import TINY_MODEL

    torch.manual_seed(0)
    model = choose_paths(MUNIT(TINY_MODEL, discriminators=False), "cuda")
    result = export_onnx(model, tmp_path / "g", "A2B")  # traced at batch 2, checked at batch 3
    assert result.max_abs_diff_translate < 1e-4 and result.max_abs_diff_style < 1e-4
    assert all(getattr(module, name) == (name == "few_kernels") for module, name in path_switches(model))


def test_bad_inputs_give_clear_errors(trained_checkpoint, inputs, tmp_path):
    ckpt = ["--checkpoint", str(trained_checkpoint), "--device", "cpu"]
    corrupt_img = tmp_path / "corrupt.png"
    corrupt_img.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    corrupt_ckpt = tmp_path / "corrupt.safetensors"
    corrupt_ckpt.write_bytes(trained_checkpoint.read_bytes()[:1000])
    wrong_styles = tmp_path / "wrong.safetensors"
    save_styles(torch.zeros(2, 9), wrong_styles)
    cases = [
        (["translate", str(tmp_path / "missing.png"), *ckpt], "missing.png: no such image file"),
        (["translate", str(inputs), "--direction", "dog2cat", *ckpt], "unknown direction 'dog2cat'"),
        (["translate", str(inputs), "--styles", str(wrong_styles), *ckpt], "dimension (9,)"),
        (["translate", str(inputs), "--styles", str(wrong_styles), "-n", "5", *ckpt],
         "--n-styles is for random styles; with --style-ref or --styles the styles are those given"),
        (["translate", str(inputs), "--styles", str(wrong_styles), "--seed", "3", *ckpt],
         "--seed is for random styles; with --style-ref or --styles the styles are those given"),
        (["translate", str(inputs), "--style-ref", str(inputs), "--seed", "0", *ckpt],
         "--seed is for random styles"),
        (["translate", str(inputs), "--checkpoint", str(corrupt_ckpt)], "truncated or corrupt"),
        (["style-sample", "--interpolate", "1", "nope.png", *ckpt], "neither a seed"),
        (["translate", str(inputs), "--image-size", "31", *ckpt], "--image-size must be a multiple of 2"),
        (["export", "--format", "tflite", *ckpt], "--format must be one of"),
        (["translate", str(inputs), "--out", str(corrupt_img), *ckpt], "is a file; give a folder"),
        (["translate", str(inputs), "--checkpoint", str(inputs)], "is a folder without a checkpoints/latest"),
        (["style-sample", str(inputs), "--out", str(tmp_path / "grid.foo"), *ckpt],
         "'.foo' is not an image format Pillow writes"),
        (["style-sample", str(inputs), "--out", str(tmp_path), *ckpt], f"{tmp_path}: Is a directory"),
        (["style-sample", str(inputs), "--save-styles", str(tmp_path), "--out", str(tmp_path / "grid.png"), *ckpt],
         "Is a directory"),
        (["export", "--output", str(corrupt_img / "sub" / "bundle"), *ckpt],
         f"{corrupt_img} is a file, but a folder is needed there (for {corrupt_img / 'sub'})"),
    ]
    for args, message in cases:
        # in the test's folder: a case that wrongly succeeds writes its translations there, not into the repository
        result = run(*args, cwd=tmp_path)
        assert result.exit_code == 1, (args, result.output)
        assert "error:" in result.output and message in result.output, result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "grid.png").exists()  # a bad --save-styles stops style-sample before any work
    # A path that does not exist stops the command before the model is loaded (no device line).
    result = run("translate", str(inputs), str(tmp_path / "typo.png"), "--out", str(tmp_path / "typo-out"), *ckpt)
    assert result.exit_code == 1 and "typo.png: no such image file or folder" in result.output
    assert not (tmp_path / "typo-out").exists()
    assert "precision" not in result.output and "translated" not in result.output, result.output
    # A corrupt input among good ones: the others are written, then a non-zero exit names it.
    out = tmp_path / "mixed"
    result = run("translate", str(corrupt_img), str(inputs), "-n", "1", "--out", str(out), *ckpt)
    assert result.exit_code == 1 and "corrupt.png" in result.output
    assert len(list(out.glob("*_style0.png"))) == len(list(inputs.iterdir()))


def test_a_run_folder_stands_for_its_latest_checkpoint(trained_checkpoint, inputs, tmp_path):
    run_folder = trained_checkpoint.parents[1]  # runs/sketch2paint
    image = str(next(inputs.iterdir()))
    for given in (trained_checkpoint, run_folder, run_folder / "checkpoints"):
        result = run("translate", image, "-n", "2", "--out", str(tmp_path / given.name), "--checkpoint", str(given),
                     "--device", "cpu")
        assert result.exit_code == 0, result.output
    first = sorted((tmp_path / trained_checkpoint.name).glob("*.png"))
    assert first and all(np.array_equal(pixels(p), pixels(tmp_path / run_folder.name / p.name)) for p in first)
    assert run("info", str(run_folder)).output == run("info", str(trained_checkpoint)).output


def test_file_system_errors_say_what_to_do():
    from munit_cli.cli._console import describe_os_error

    assert describe_os_error(PermissionError(errno.EACCES, "Permission denied", "out/x.png")) == (
        "out/x.png: Permission denied; choose a folder you can write to, or change its permissions")
    assert "free some space" in describe_os_error(OSError(errno.ENOSPC, "No space left on device", "x"))
    assert describe_os_error(OSError("a message of its own")) == "a message of its own"


def test_info_and_help(trained_checkpoint):
    result = run("info", str(trained_checkpoint))
    assert result.exit_code == 0, result.output
    for text in ("sketch", "paint", "step", "params gen_a", "config gen_dim", "MiB"):
        assert text in result.output
    assert run("info", "missing.safetensors").exit_code == 1
    # The commands that take the checkpoint as an argument take --checkpoint too, as translate does.
    assert run("info", "--checkpoint", str(trained_checkpoint)).output == result.output
    both = run("info", str(trained_checkpoint), "-c", "other.safetensors")
    assert both.exit_code == 1 and "two checkpoints given" in both.output
    for command in ("train", "translate", "style-sample", "export", "info", "import-official", "demo"):
        assert run(command, "--help").exit_code == 0
    assert "munit-cli" in run("--version").output


def test_precisions(trained_checkpoint, inputs, tmp_path):
    """fp32 reproduces the model's float32 output to the pixel; bf16 stays close to it."""
    from munit_cli.data import load_image, preprocess
    path = sorted(inputs.iterdir())[0]
    outs = {}
    for precision in ("fp32", "bf16"):
        result = run("translate", str(path), "-n", "2", "--seed", "3", "--precision", precision,
                     "--out", str(tmp_path / precision), "--checkpoint", str(trained_checkpoint), "--device", "cpu")
        assert result.exit_code == 0, result.output
        outs[precision] = pixels(tmp_path / precision / f"{path.stem}_style1.png").astype(int)
    model = load_checkpoint(trained_checkpoint, use_ema=True)  # translate uses the EMA generators
    x = preprocess(load_image(path), 32).unsqueeze(0)
    want = translate(model.gen_a, model.gen_b, x, sample_styles(2, model.config.style_dim, seed=3))[0, 1]
    want = ((want.clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(int)
    assert np.abs(outs["fp32"] - want).max() <= 1  # rounding at .5 may differ between code paths
    # bfloat16 keeps 8 significant bits (relative error 2^-9 per operation): a few levels of 255.
    assert np.abs(outs["bf16"] - want).mean() < 4
    bad = run("translate", str(path), "--precision", "fp64", "--checkpoint", str(trained_checkpoint))
    assert bad.exit_code == 1 and "--precision must be auto or one of" in bad.output


def test_python_api_example_runs(trained_checkpoint, inputs, shapes_root, tmp_path):
    """examples/translate_python_api.py, as a user runs it: 8 random styles and 1 guided one."""
    repo = Path(__file__).resolve().parents[1]
    dog, cat = sorted(inputs.iterdir())[0], sorted((shapes_root / "test" / "paint").iterdir())[0]
    proc = subprocess.run([sys.executable, str(repo / "examples" / "translate_python_api.py"),
                           str(trained_checkpoint), str(dog), str(cat)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    grid = pixels(tmp_path / "python_api_demo.png")
    assert grid.shape[0] > 2 * 256 and grid.shape[1] > 9 * 256  # 2 rows of 256x256: input + 8 styles


def test_a_cuda_graph_that_fails_to_capture_falls_back_to_eager(trained_checkpoint, capsys):
    """The replay path (CUDA only) with its capture made to fail: every call still answers with the
    eager translation, the failure is reported once in one warning line, and no capture is tried again."""
    from munit_cli.cli._console import warn_optional_path_failed
    from munit_cli.inference import ReplayedTranslate

    model = load_checkpoint(trained_checkpoint).eval()
    styles = sample_styles(2, model.config.style_dim, seed=0)
    replayed = ReplayedTranslate(model.gen_a, model.gen_b, styles, on_failure=warn_optional_path_failed("CUDA graphs"))
    captures = []

    def failing_capture(static_in):
        captures.append(static_in.shape)
        raise RuntimeError("operation not permitted when stream is capturing")

    replayed._replays = lambda images: replayed.failure is None  # as on CUDA
    replayed._capture = failing_capture
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    for _ in range(4):
        torch.testing.assert_close(replayed(images), translate(model.gen_a, model.gen_b, images, styles))
    assert len(captures) == 1 and isinstance(replayed.failure, RuntimeError)
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "CUDA graphs failed (RuntimeError: operation not permitted" in err
