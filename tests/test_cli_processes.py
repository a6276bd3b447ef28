"""Every command as users run it: the installed `munit` entry point, each call in a new process.

Nothing a test left in this pytest process (a filled cache, an imported module, a global) can make
these pass: each call starts from a fresh interpreter, on files made in the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import FIXTURE_DIR, TINY_TOML, write_metric_weights

MUNIT = Path(sys.executable).parent / "munit"


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts: run from a shell's background job (`cmd &`),
    the suite inherits SIGINT ignored, and a Python child then never raises KeyboardInterrupt. A
    terminal's foreground process has the default disposition; so does the child."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def munit(*args: str, cwd: Path, timeout: int = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    assert MUNIT.is_file(), f"no munit entry point beside {sys.executable}; install the project (README)"
    env = {**os.environ, "COLUMNS": "200", **(env or {})}
    env.pop("MUNIT_DEBUG", None)
    return subprocess.run([str(MUNIT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def ok(proc: subprocess.CompletedProcess) -> str:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output
    return output


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    """The parity fixture, converted by `munit import-official` in its own process."""
    folder = tmp_path_factory.mktemp("imported")
    ok(munit("import-official", str(FIXTURE_DIR / "gen_00000001.pt"), "--dis", str(FIXTURE_DIR / "dis_00000001.pt"),
             "--domains", "dog,cat", "-o", "small.safetensors", cwd=folder))
    return folder / "small.safetensors"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    paths = []
    for name in ("a.jpg", "b.jpg"):
        Image.fromarray((rng.random((80, 96, 3)) * 255).astype(np.uint8)).save(folder / name)
        paths.append(folder / name)
    return paths


def test_info(imported):
    output = ok(munit("info", str(imported), cwd=imported.parent))
    assert "A = dog, B = cat" in output


def test_translate(imported, photos, tmp_path):
    ok(munit("translate", str(photos[0]), "--checkpoint", str(imported), "-n", "2", "--image-size", "32",
             "--out", "tr", cwd=tmp_path))
    assert Image.open(tmp_path / "tr" / "a_style1.png").size == (32, 32)


def test_style_sample_takes_images_as_arguments(imported, photos, tmp_path):
    ok(munit("style-sample", *map(str, photos), "--checkpoint", str(imported), "-n", "2", "--image-size", "32",
             "--out", "grid.png", cwd=tmp_path))
    grid = Image.open(tmp_path / "grid.png")
    assert grid.height > 2 * 32 and grid.width > 3 * 32  # 2 rows; content + 2 styles


def test_export_bundle_and_onnx(imported, photos, tmp_path):
    """ONNX export alone in its process: it used to work only after another test filled a cache."""
    pytest.importorskip("onnxruntime")
    ok(munit("export", "--checkpoint", str(imported), "--out", "bundle.safetensors", cwd=tmp_path))
    output = ok(munit("export", "--checkpoint", str(imported), "--format", "onnx", "--output", "g", cwd=tmp_path))
    assert (tmp_path / "g.translate.onnx").is_file() and (tmp_path / "g.style.onnx").is_file()
    assert "largest difference" in output
    # The bundle translates like the checkpoint it came from, in yet another process.
    for name, checkpoint in (("from_bundle", "bundle.safetensors"), ("from_checkpoint", str(imported))):
        ok(munit("translate", str(photos[1]), "--checkpoint", checkpoint, "-n", "1", "--image-size", "32",
                 "--precision", "fp32", "--out", name, cwd=tmp_path))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "from_bundle" / "b_style0.png")),
                          np.asarray(Image.open(tmp_path / "from_checkpoint" / "b_style0.png")))


def test_train_resume_and_data_check(shapes_root, tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    common = ("--out", "run", "--config", "tiny.toml", "--device", "cpu")
    output = ok(munit("train", str(shapes_root), "-s", "sketch", "-t", "paint", "--iterations", "2", *common,
                      cwd=tmp_path))
    assert "sketch 12 images, paint 12 images" in output and "final checkpoint" in output
    output = ok(munit("train", "--iterations", "3", "--resume", *common, cwd=tmp_path))
    assert "starting at step 2" in output and "(24 unchanged since the last check)" in output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["iterations"] == 3
    assert "all images decode" in ok(munit("data", "check", str(shapes_root), cwd=tmp_path))


def test_a_failing_compiler_falls_back_to_eager_training(shapes_root, tmp_path):
    """No working C compiler (slim containers lack one; inductor needs it): --compile says so in one
    warning line, training goes on eagerly and exits 0, and the weights equal a --no-compile run's."""
    from safetensors.torch import load_file

    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    common = ("train", str(shapes_root), "-s", "sketch", "-t", "paint", "--iterations", "2", "--config", "tiny.toml",
              "--device", "cpu")
    # inductor's tracing before the compiler is found wanting took over 300 s on a loaded 2-core machine
    output = ok(munit(*common, "--out", "compiled", "--compile", cwd=tmp_path, timeout=900,
                      env={"CXX": "/bin/false", "CC": "/bin/false"}))
    warnings = [line for line in output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "--compile failed" in warnings[0] and "compiler" in warnings[0].lower(), output
    ok(munit(*common, "--out", "eager", "--no-compile", cwd=tmp_path))
    compiled = load_file(tmp_path / "compiled" / "checkpoints" / "latest.safetensors")
    eager = load_file(tmp_path / "eager" / "checkpoints" / "latest.safetensors")
    assert compiled.keys() == eager.keys()
    for name in eager:
        assert (compiled[name] == eager[name]).all(), name


def test_eval_with_metric_weights_from_a_folder(shapes_root, tmp_path):
    pytest.importorskip("torchmetrics")
    weights = write_metric_weights(tmp_path / "weights")
    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    ok(munit("train", str(shapes_root), "--iterations", "1", "--out", "run", "--config", "tiny.toml",
             "--device", "cpu", cwd=tmp_path))  # no --source/--target: the root has two domains
    output = ok(munit("eval", "run", "-n", "2", "--direction", "a2b", "--device", "cpu", "--weights-dir", str(weights),
                      cwd=tmp_path))
    assert "paint -> sketch" in output and "wrote eval.json" in output
    assert "Warning" not in output, output  # torch 2.4 warned about torchmetrics' own LPIPS file
    (row,) = json.loads((tmp_path / "eval.json").read_text())["rows"]
    assert row["step"] == 1 and row["a2b"]["n_outputs"] == 4


def test_demo(tmp_path):
    output = ok(munit("demo", "--iterations", "2", "--n-styles", "2", "--device", "cpu", cwd=tmp_path))
    assert (tmp_path / "munit-demo" / "translations.png").is_file() and "done" in output
    assert re.search(r"scores on 64 new sketches x 4 styles: content kept \(IoU\) 0\.\d+, target-likeness", output)


def test_a_second_demo_into_the_same_folder_is_refused(tmp_path):
    first = subprocess.Popen([str(MUNIT), "demo", "--iterations", "100000", "--device", "cpu"], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=default_sigint)
    try:
        lock = tmp_path / "munit-demo" / ".train.lock"
        deadline = time.time() + 120
        while not (lock.is_file() and lock.read_text().strip()) and time.time() < deadline:
            time.sleep(0.2)
        second = munit("demo", "--iterations", "2", "--device", "cpu", cwd=tmp_path)
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"munit-demo is in use by another munit demo (process {first.pid})" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        try:  # a bound, not a timing: once, with two benchmark runs beside the suite, 120 s was too few
            first.wait(timeout=300)
        except subprocess.TimeoutExpired:
            first.kill()  # leave no demo training behind
            raise


@pytest.mark.parametrize("device, message", [
    ("cuda", "--device cuda: no CUDA GPU is available"),
    ("cuda:3", "--device cuda:3: no CUDA GPU is available"),
    ("mps", "--device mps: MPS (Apple silicon) is not available"),
    ("tpu", "--device tpu: not a device; use auto, cpu, cuda, cuda:N or mps"),
])
def test_a_missing_device_is_a_short_error(device, message, imported, photos, tmp_path):
    """Checked before any work: exit 2 and one line that names the devices this machine has."""
    import torch
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU; tests/test_devices.py covers the messages with a fake one")
    proc = munit("translate", str(photos[0]), "--checkpoint", str(imported), "--device", device, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and message in proc.stderr and "Traceback" not in proc.stderr
    if device != "tpu":
        assert "this machine has cpu" in proc.stderr
    assert not (tmp_path / "translations").exists()


def test_brackets_in_paths_and_messages_print_as_written(imported, photos, tmp_path):
    """What the commands print is plain text: Rich markup dropped '[raw]' from a path (and '[onnx]' from
    the install hint below), and a path holding '[/]' was a MarkupError traceback."""
    output = ok(munit("style-sample", str(photos[0]), "--checkpoint", str(imported), "-n", "2", "--image-size", "32",
                      "--out", "grid [v2]/g.png", cwd=tmp_path))
    assert "wrote grid [v2]/g.png" in output and (tmp_path / "grid [v2]" / "g.png").is_file()
    proc = munit("translate", "photos [raw]/a[/]b.png", "--checkpoint", str(imported), cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr == "error: photos [raw]/a[/]b.png: no such image file or folder\n"


def test_a_large_photo_translates_without_a_warning(imported, tmp_path):
    """A 99-megapixel photo (phone cameras take 108) is over Pillow's untrusted-input threshold, which
    printed a DecompressionBombWarning with Pillow's source line; the user's own file is no threat."""
    Image.new("RGB", (11000, 9000), (90, 30, 30)).save(tmp_path / "large.jpg", quality=80)
    output = ok(munit("translate", "large.jpg", "--checkpoint", str(imported), "-n", "1", "--image-size", "32",
                      "--out", "out", cwd=tmp_path))
    assert "Warning" not in output, output
    assert Image.open(tmp_path / "out" / "large_style0.png").size == (32, 32)


def test_translate_interrupted_says_how_many_inputs_it_wrote(imported, tmp_path):
    """Ctrl-C part way through a folder: exit 130, and the line names how many inputs were written,
    each with all its files (the writer thread finishes what it was given)."""
    (tmp_path / "many").mkdir()
    Image.new("RGB", (2400, 2400), (90, 30, 30)).save(tmp_path / "many" / "0.jpg")
    for k in range(1, 300):
        shutil.copyfile(tmp_path / "many" / "0.jpg", tmp_path / "many" / f"{k}.jpg")
    proc = subprocess.Popen([str(MUNIT), "translate", "many", "--checkpoint", str(imported), "-n", "2",
                             "--image-size", "32", "--out", "out"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "out").glob("*_grid.png")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT and "Traceback" not in stderr, stderr
    written = int(re.search(r"error: interrupted after (\d+) of 300 input\(s\); their images are in out", stderr)[1])
    assert 1 <= written < 300
    assert len(list((tmp_path / "out").glob("*.png"))) == 3 * written  # two styles and a grid each


@pytest.mark.parametrize("command, missing, extra", [
    (("export", "--format", "onnx"), "onnx", "onnx"),
    (("eval",), "torch_fidelity", "eval"),
    (("serve",), "gradio", "serve"),
])
def test_a_missing_extra_names_its_install_command(command, missing, extra, imported, tmp_path):
    """As in an environment installed without the extra: the module cannot be imported (a None entry in
    sys.modules makes `import` fail), and the error gives the whole pip command."""
    script = (f"import sys\nsys.modules[{missing!r}] = None\nfrom munit_cli.cli import main\n"
              f"sys.argv = ['munit', *sys.argv[1:]]\nmain()\n")
    proc = subprocess.run([sys.executable, "-c", script, *command, "--checkpoint", str(imported)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1].endswith(f"pip install 'munit-cli[{extra}]'"), proc.stderr


def test_usage_errors_are_two_short_lines(tmp_path):
    proc = munit("translate", "a.jpg", "--no-such-option", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["error: No such option: --no-such-option",
                                        "See 'munit translate --help'."]


def test_help_parses_without_importing_torch(tmp_path):
    """`munit --help` and each command's help must answer without loading torch (it takes seconds)."""
    script = (
        "import sys\n"
        "from munit_cli.cli import main\n"
        "for args in ([], ['--help'], *[[*c.split(), '--help'] for c in sys.argv[1:]]):\n"
        "    sys.argv = ['munit', *args]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (args, e.code)\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'numpy', 'safetensors') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    commands = ["train", "demo", "translate", "style-sample", "export", "info", "import-official", "data", "data check"]
    proc = subprocess.run([sys.executable, "-c", script, *commands], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr, proc.stderr


def test_help_shows_types_beside_values_and_none_beside_flags(tmp_path):
    shown = ok(munit("train", "--help", cwd=tmp_path, env={**os.environ, "COLUMNS": "200"}))
    assert "<bool>" not in shown
    assert re.search(r"--iterations\s+<int>", shown) and re.search(r"--compile\s+--no-compile\s+torch", shown)


def test_help_paragraphs_wrap_with_the_terminal(tmp_path):
    """A command's description is reflowed to the terminal's width, not broken where its docstring's
    lines end (at 200 columns, a docstring's line end is the only reason to break these lines)."""
    description = ok(munit("train", "--help", cwd=tmp_path)).split("╭")[0]
    assert "sample grids to OUT/samples (open index.html), and every loss to" in description, description
    listing = ok(munit("--help", cwd=tmp_path))
    demo = next(line for line in listing.splitlines() if "│ demo " in line)
    assert demo.rstrip(" │").endswith("several styles per input."), demo


def test_help_shows_every_option_text_whole(tmp_path):
    """Rich reads '[...]' in help text as markup and drops it unless escaped: every option's help
    (defaults in brackets included) must reach the screen as written."""
    import typer.main

    from munit_cli.cli import app

    def commands(group, prefix=()):
        for name, command in getattr(group, "commands", {}).items():
            yield (*prefix, name), command
            yield from commands(command, (*prefix, name))

    checked = 0
    for words, command in commands(typer.main.get_command(app)):
        env = {**os.environ, "COLUMNS": "2000"}
        shown = subprocess.run([str(MUNIT), *words, "--help"], cwd=tmp_path, env=env, capture_output=True,
                               text=True, timeout=60).stdout
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            text = (getattr(param, "help", None) or "").replace("\\[", "[")
            assert text in shown, (words, param.name, text)
            checked += "[" in text
    assert checked >= 8  # the train recipe's defaults and --config's [model]/[loss] tables


@pytest.mark.parametrize("args, status", [(["--help"], 0), (["train", "--help"], 0), (["--version"], 0),
                                          (["info", "--help"], 0)])
def test_a_closed_pipe_ends_quietly(args, status, tmp_path):
    """`munit --help | head -1`: the reader has gone before munit writes (a pipe whose read end is
    already closed), and munit ends without a word, with status 0 for help."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([str(MUNIT), *args], cwd=tmp_path, env=env, stdout=write, stderr=subprocess.PIPE,
                          text=True, timeout=120)
    os.close(write)
    assert proc.returncode == status and proc.stderr == "", proc.stderr
