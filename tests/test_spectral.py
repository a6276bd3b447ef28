"""munit_cli.spectral against torch's spectral_norm: same estimate, same gradient, same state dict."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as torch_spectral_norm

from munit_cli.spectral import spectral_norm


def _pair(seed: int = 0) -> tuple[nn.Conv2d, nn.Conv2d]:
    """A convolution with our spectral norm and a copy with torch's, from the same random draws."""
    torch.manual_seed(seed)
    ours = nn.Conv2d(8, 16, 4, 2, 1)
    theirs = nn.Conv2d(8, 16, 4, 2, 1)
    theirs.load_state_dict(ours.state_dict())
    torch.manual_seed(seed + 1)
    spectral_norm(ours)
    torch.manual_seed(seed + 1)
    torch_spectral_norm(theirs)
    return ours, theirs


def test_same_buffers_and_state_dict_keys_as_torch():
    ours, theirs = _pair()
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in theirs.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value, rtol=0, atol=0)
    ours.load_state_dict(theirs.state_dict())  # a checkpoint of torch's loads, and back
    theirs.load_state_dict(ours.state_dict())


def test_training_forward_and_gradient_match_torch():
    """Three training steps: each weight, its gradient and the vectors equal torch's to float32
    rounding (sigma is ||W^T u|| here, u^T W v there: equal for the v both compute)."""
    ours, theirs = _pair()
    x = torch.randn(2, 8, 16, 16)
    for _ in range(3):
        out_ours, out_theirs = ours(x), theirs(x)
        torch.testing.assert_close(out_ours, out_theirs, rtol=1e-5, atol=1e-6)
        out_ours.square().sum().backward()
        out_theirs.square().sum().backward()
        g_ours = ours.parametrizations.weight.original.grad
        g_theirs = theirs.parametrizations.weight.original.grad
        # The gradient is G/sigma less a projection onto u v^T: an element near zero is the difference
        # of terms as large as the largest, so its float32 rounding scales with the largest element
        # (torch 2.14: each implementation within 4e-7 of it from a float64 reference, seeds 0-4; the
        # two within 1.1e-6 of it of each other on the 2.4 floor, seeds 0-9).
        torch.testing.assert_close(g_ours, g_theirs, rtol=1e-4, atol=2e-6 * g_theirs.abs().max().item())
        for name in ("_u", "_v"):
            torch.testing.assert_close(getattr(ours.parametrizations.weight[0], name),
                                       getattr(theirs.parametrizations.weight[0], name), rtol=1e-5, atol=1e-6)
        with torch.no_grad():  # an optimiser step, the same on both
            for conv in (ours, theirs):
                conv.parametrizations.weight.original.sub_(0.1 * conv.parametrizations.weight.original.grad)
                conv.zero_grad()


def test_evaluation_mode_reads_the_last_estimate():
    """In evaluation mode u and v stay as they are and sigma is u^T W v, as torch's."""
    ours, theirs = _pair()
    ours.eval()
    theirs.eval()
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    torch.testing.assert_close(ours.weight, theirs.weight, rtol=0, atol=0)
    for key, value in ours.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_bf16_autocast_keeps_the_estimate_in_float32():
    ours, _ = _pair()
    expected = copy.deepcopy(ours).weight.detach()  # one refining step from the same state, no autocast
    with torch.autocast("cpu", dtype=torch.bfloat16):
        weight = ours.weight
    assert weight.dtype == torch.float32
    assert ours.parametrizations.weight[0]._u.dtype == torch.float32
    torch.testing.assert_close(weight.detach(), expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_converges_to_the_largest_singular_value(seed):
    ours, _ = _pair(seed)
    for _ in range(200):
        _ = ours.weight  # each read in training mode is one power-iteration step
    assert torch.linalg.matrix_norm(ours.weight.detach().flatten(1), 2).item() == pytest.approx(1.0, rel=1e-3)
