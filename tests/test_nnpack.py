"""NNPACK's convolutions (munit_cli.nnpack): the same results as F.conv2d to Winograd's rounding, taken
by CPU inference only, never by a step that computes gradients."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from munit_cli import MUNIT, nnpack
from munit_cli.devices import choose_paths
from munit_cli.inference import sample_styles, translate

from .conftest import TINY_MODEL

pytestmark = pytest.mark.skipif(not nnpack.available(), reason="this torch build has no NNPACK")

# Winograd's transforms round more than direct summation: about 1.5e-5 of the output's largest value
# for 256 input channels (measured). A convolution with the wrong padding, flip or bias is off by O(1).
RELATIVE = 1e-4


class NnpackCalls(TorchDispatchMode):
    """Counts NNPACK convolutions run inside it."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += func is torch.ops.aten._nnpack_spatial_convolution.default
        return func(*args, **(kwargs or {}))


def assert_close_relative(got: torch.Tensor, want: torch.Tensor):
    assert got.shape == want.shape
    error = (got - want).abs().max() / want.abs().max()
    assert error < RELATIVE, f"relative error {error:.2e}"


@pytest.mark.parametrize("kernel, batch, padding, bias", [
    (3, 1, (1, 1), True), (3, 3, (0, 0), False), (4, 2, (0, 0), True), (5, 1, (2, 2), True),
])
@torch.no_grad()
def test_conv2d_matches_onednn(kernel, batch, padding, bias):
    torch.manual_seed(0)
    x = torch.randn(batch, 24, 19, 21)  # odd sides: partial Winograd tiles at the edges
    weight = torch.randn(20, 24, kernel, kernel) / (24 * kernel * kernel) ** 0.5
    b = torch.randn(20) if bias else None
    assert_close_relative(nnpack.conv2d(x, weight, b, padding), F.conv2d(x, weight, b, padding=padding))


def test_a_failing_nnpack_call_falls_back_to_onednn():
    """NNPACK fails until initialised (``nnpack.available`` does that): skip it, as on a CPU whose
    NNPACK refuses a shape, and the result must still be the convolution, not an error."""
    script = (
        "import torch, torch.nn.functional as F\n"
        "from munit_cli import nnpack\n"
        "nnpack._available = True  # claimed, never initialised\n"
        "x, w, b = torch.randn(2, 16, 9, 9), torch.randn(8, 16, 3, 3), torch.randn(8)\n"
        "try:\n"
        "    torch._nnpack_spatial_convolution(x, w, b, [1, 1])\n"
        "    print('nnpack ran')\n"
        "except RuntimeError:\n"
        "    print('nnpack failed')\n"
        "with torch.no_grad():\n"
        "    assert torch.equal(nnpack.conv2d(x, w, b, (1, 1)), F.conv2d(x, w, b, padding=1))\n"
        "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.split()[-1] == "ok", proc.stdout + proc.stderr
    if "nnpack ran" in proc.stdout:
        pytest.skip("this torch initialises NNPACK by itself: no failure to fall back from")


def test_only_inference_float32_stride1_convolutions_qualify():
    x, weight = torch.randn(1, 32, 8, 8), torch.randn(32, 32, 3, 3)
    with torch.no_grad():
        assert nnpack.usable(x, weight)
        assert not nnpack.usable(x, weight, stride=2)
        assert not nnpack.usable(x[:, :3], weight[:, :3])  # few input channels: oneDNN is faster
        assert not nnpack.usable(x.bfloat16(), weight.bfloat16())
    assert not nnpack.usable(x, weight)  # autograd on: NNPACK's gradient is not what it computed


def test_cpu_translation_takes_nnpack_and_matches_the_plain_paths():
    torch.manual_seed(0)
    model = MUNIT(TINY_MODEL, discriminators=False).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    styles = sample_styles(3, TINY_MODEL.style_dim, seed=1)
    plain = translate(model.gen_a, model.gen_b, x, styles)
    choose_paths(model, "cpu")
    with NnpackCalls() as calls:
        fast = translate(model.gen_a, model.gen_b, x, styles)
    # One residual block each side (n_res=1). Per image: the content encoder's 2 residual convolutions
    # and the decoder's first; per image and style: its second, 2 upsampling and the final block one.
    # (The 7x7 convolution of RGB and the stride-2 ones stay with oneDNN.)
    assert calls.count == 2 * 3 + 2 * 3 * 4
    # One 8-bit level of an image in [-1, 1] is 2 / 255 ~ 8e-3; Winograd's rounding stays far below.
    torch.testing.assert_close(fast, plain, atol=1e-4, rtol=0)


def test_a_step_with_gradients_never_takes_nnpack():
    torch.manual_seed(0)
    model = choose_paths(MUNIT(TINY_MODEL, discriminators=False), "cpu")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with NnpackCalls() as calls:
        model.gen_a(x).square().mean().backward()
    assert calls.count == 0 and model.gen_a.enc_content.model[-1].model[0].model[0].nnpack


def test_munit_nnpack_0_leaves_every_convolution_to_onednn():
    """The way out should NNPACK misbehave on some CPU: MUNIT_NNPACK=0, read in a fresh process (the
    answer is kept once asked). The translation then takes no NNPACK convolution."""
    script = (
        "import torch\n"
        "from munit_cli import MUNIT, nnpack\n"
        "from munit_cli.devices import choose_paths\n"
        "from munit_cli.inference import sample_styles, translate\n"
        "from tests.conftest import TINY_MODEL\n"
        "from tests.test_nnpack import NnpackCalls\n"
        "model = choose_paths(MUNIT(TINY_MODEL, discriminators=False).eval(), 'cpu')\n"
        "with NnpackCalls() as calls:\n"
        "    translate(model.gen_a, model.gen_b, torch.rand(1, 3, 32, 32), sample_styles(2, TINY_MODEL.style_dim))\n"
        "print(nnpack.available(), calls.count)\n")
    root = Path(__file__).resolve().parent.parent
    for value, expected in (("0", "False 0"), ("1", "True 11")):  # 3 + 4 per style, as above
        env = {**os.environ, nnpack.SWITCH_VARIABLE: value}
        proc = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split()[-2:] == expected.split(), (value, proc.stdout)
