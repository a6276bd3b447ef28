"""Building blocks: convolution block, residual blocks, AdaIN and MUNIT's LayerNorm.

Module and attribute names mirror the released MUNIT code so that a released state dict maps
onto ours key for key (see ``checkpoint.import_official``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError

EPS = 1e-5


def _lookup(table: dict[str, Callable], key: str, what: str):
    try:
        return table[key]
    except KeyError:
        raise ConfigError(f"unknown {what} {key!r}; valid: {', '.join(table)}") from None


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "lrelu": lambda: nn.LeakyReLU(0.2, inplace=True),
    "prelu": lambda: nn.PReLU(),
    "selu": lambda: nn.SELU(inplace=True),
    "tanh": lambda: nn.Tanh(),
    "none": lambda: nn.Identity(),
}

# Padding is the convolution's own ``padding_mode``: no pad module (so no extra state-dict keys).
PADDING_MODES = {"reflect": "reflect", "replicate": "replicate", "zero": "zeros"}


def centred_norm(x: torch.Tensor, mean: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """sqrt(sum((x - mean)^2)) over ``dims``.

    Two passes (the mean, then this) are as accurate as Welford's ``var_mean`` here, and several
    times faster on a CPU. The norms call it on float32 copies of bfloat16 activations: a plain
    cast and float32 reductions are several times faster there than reductions that cast as they go.
    """
    return torch.linalg.vector_norm(x - mean, dim=dims)


def scale_shift(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``x * scale + shift`` with [N, C] float32 scale and shift, in x's dtype.

    Multiply, then add in place: about 3x faster on a CPU than ``torch.addcmul``, whose broadcasting
    path is slow there (and 5x for bfloat16).
    """
    scale, shift = scale.to(x.dtype)[:, :, None, None], shift.to(x.dtype)[:, :, None, None]
    return (x * scale).add_(shift)


class LayerNorm(nn.Module):
    """MUNIT's LayerNorm: per sample over C x H x W, ``(x - mean) / (std + eps)``.

    Unlike ``nn.LayerNorm`` it uses the unbiased standard deviation, adds eps to the std rather
    than the variance, and has a per-channel affine (gamma initialised uniform in [0, 1)).
    """

    def __init__(self, num_features: int, eps: float = EPS):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.rand(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1).float()
        mean = flat.mean(1, keepdim=True)
        std = centred_norm(flat, mean, dims=(1,)) / (flat.shape[1] - 1) ** 0.5  # unbiased
        # Fold normalisation and affine into one scale and shift per (sample, channel).
        scale = self.gamma[None, :].float() / (std[:, None] + self.eps)
        shift = self.beta[None, :].float() - mean * scale
        return scale_shift(x, scale, shift)


class AdaptiveInstanceNorm(nn.Module):
    """AdaIN (paper eq. 7): instance-normalise, then scale by gamma and shift by beta.

    It has no parameters of its own: gamma and beta come from the style MLP and are passed in.
    """

    def __init__(self, num_features: int, eps: float = EPS):
        super().__init__()
        self.num_features = num_features
        self.eps = eps

    def forward(self, x: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """x: [N or 1, C, H, W]; beta, gamma: [N, C]. An x of batch 1 is shared by all N styles."""
        x32 = x.float()
        mean = x32.mean((2, 3), keepdim=True)
        var = centred_norm(x32, mean, dims=(2, 3)) ** 2 / (x.shape[2] * x.shape[3])  # biased
        # gamma * (x - mean) / sqrt(var + eps) + beta, folded into one scale and shift per channel.
        scale = gamma.float() * torch.rsqrt(var + self.eps)
        shift = beta.float() - mean[:, :, 0, 0] * scale
        return scale_shift(x, scale, shift)


NORMS: dict[str, Callable[[int], nn.Module]] = {
    "none": lambda channels: nn.Identity(),
    "bn": lambda channels: nn.BatchNorm2d(channels),
    "in": lambda channels: nn.InstanceNorm2d(channels),
    "ln": LayerNorm,
    "adain": AdaptiveInstanceNorm,
}


class ConvBlock(nn.Module):
    """Padded convolution (with bias), then normalisation, then activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 padding: int, norm: str = "none", activation: str = "relu", pad_type: str = "zero"):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=True,
                              padding_mode=_lookup(PADDING_MODES, pad_type, "padding"))
        self.norm = _lookup(NORMS, norm, "norm")(out_channels)
        self.activation = _lookup(ACTIVATIONS, activation, "activation")()
        self.is_adain = norm == "adain"

    def forward(self, x: torch.Tensor, adain: tuple[torch.Tensor, torch.Tensor] | None = None):
        return self.finish(self.conv(x), adain)

    def finish(self, x: torch.Tensor, adain: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Normalisation and activation of an already convolved x."""
        x = self.norm(x, *adain) if self.is_adain else self.norm(x)
        return self.activation(x)

    def forward_upsampled(self, x: torch.Tensor) -> torch.Tensor:
        """This block applied to ``nearest_upsample_2x(x)``, computed at the low resolution."""
        return self.activation(self.norm(upsample_conv5x5(x, self.conv)))


class ResBlock(nn.Module):
    """Two 3x3 convolution blocks (the second without activation) added to the input."""

    def __init__(self, channels: int, norm: str, activation: str, pad_type: str):
        super().__init__()
        self.model = nn.Sequential(
            ConvBlock(channels, channels, 3, 1, 1, norm, activation, pad_type),
            ConvBlock(channels, channels, 3, 1, 1, norm, "none", pad_type),
        )

    def forward(self, x: torch.Tensor, adain: list | None = None,
                first_conv: torch.Tensor | None = None) -> torch.Tensor:
        """With AdaIN, ``first_conv`` may hold the first convolution of x, computed beforehand.

        x may then have batch 1 against N styles in ``adain``: it broadcasts, and the result has batch N.
        """
        if adain is None:
            return x + self.model(x)
        first, second = self.model
        hidden = first.finish(first.conv(x) if first_conv is None else first_conv, adain[0])
        return x + second(hidden, adain[1])


class ResBlocks(nn.Module):
    """A stack of residual blocks; with AdaIN each block takes two (beta, gamma) pairs."""

    def __init__(self, n_blocks: int, channels: int, norm: str, activation: str, pad_type: str):
        super().__init__()
        self.model = nn.Sequential(*(ResBlock(channels, norm, activation, pad_type)
                                     for _ in range(n_blocks)))

    def forward(self, x: torch.Tensor, adain: list | None = None,
                first_conv: torch.Tensor | None = None) -> torch.Tensor:
        """``first_conv``: the first block's first convolution of x, if computed beforehand."""
        if adain is None:
            return self.model(x)
        for i, block in enumerate(self.model):
            x = block(x, adain[2 * i: 2 * i + 2], first_conv if i == 0 else None)
        return x


class LinearBlock(nn.Module):
    """Fully connected layer, then activation."""

    def __init__(self, in_features: int, out_features: int, activation: str = "relu"):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, bias=True)
        self.activation = _lookup(ACTIVATIONS, activation, "activation")()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.fc(x))


# ---------------------------------------------------------------------------------------------
# Nearest 2x upsampling followed by a 5x5 convolution, computed at the low resolution.
#
# After a nearest 2x upsampling, output pixel 2m+p of a 5-tap convolution only ever reads input
# pixels m-1, m and m+1: the five taps fold into three (tap groups below, per output phase p).
# So the pair equals one 3x3 convolution with 4x the output channels (one set per output phase)
# followed by a pixel shuffle: 36 instead of 100 multiply-adds per output pixel and channel pair,
# and no 4x-sized upsampled tensor. Zero and replicate padding carry over exactly to the low
# resolution; reflection padding differs in the outermost output row and column only, which are
# recomputed the plain way from a thin strip.

_TAP_GROUPS = {0: ((0, 1), (2, 3), (4,)), 1: ((0,), (1, 2), (3, 4))}  # phase -> taps of rows m-1, m, m+1
_FOLD = torch.zeros(2, 3, 5)
for _phase, _groups in _TAP_GROUPS.items():
    for _offset, _taps in enumerate(_groups):
        _FOLD[_phase, _offset, list(_taps)] = 1.0
_LOW_RES_PADDING = {"zeros": "constant", "replicate": "replicate", "reflect": "replicate"}


def upsample_conv5x5(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(nearest_upsample_2x(x))`` for a 5x5, stride-1, padding-2 convolution, about 2.8x cheaper."""
    weight, bias = conv.weight, conv.bias
    fold = _FOLD.to(device=weight.device, dtype=weight.dtype)
    # [out, in, 5, 5] -> [out, phase_y, phase_x, in, 3, 3] -> [out * 4, in, 3, 3] (pixel-shuffle order)
    phases = torch.einsum("ayj,bxk,oijk->oabiyx", fold, fold, weight).reshape(-1, weight.shape[1], 3, 3)
    low = F.pad(x, (1, 1, 1, 1), mode=_LOW_RES_PADDING[conv.padding_mode])
    out = F.pixel_shuffle(F.conv2d(low, phases, bias.repeat_interleave(4)), 2)
    if conv.padding_mode != "reflect":
        return out
    # Reflection at the high resolution mirrors around the edge pixel; recompute the outermost rows
    # and columns from the five upsampled, reflection-padded lines each one reads.
    first, last = [1, 0, 0, 0, 1], [-2, -1, -1, -1, -2]  # negative: no shape arithmetic (export)

    def row_strip(rows: list[int]) -> torch.Tensor:  # -> [N, out, 1, 2W]
        lines = x[:, :, rows].repeat_interleave(2, dim=3)
        return F.conv2d(F.pad(lines, (2, 2, 0, 0), mode="reflect"), weight, bias)

    def column_strip(cols: list[int]) -> torch.Tensor:  # -> [N, out, 2H, 1]
        lines = x[:, :, :, cols].repeat_interleave(2, dim=2)
        return F.conv2d(F.pad(lines, (0, 0, 2, 2), mode="reflect"), weight, bias)

    out = torch.cat([row_strip(first), out[:, :, 1:-1], row_strip(last)], dim=2)
    return torch.cat([column_strip(first), out[:, :, :, 1:-1], column_strip(last)], dim=3)
