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

# The padding is done by the convolution itself (``padding_mode``): one kernel call, no pad module.
PADDING_MODES = {"reflect": "reflect", "replicate": "replicate", "zero": "zeros"}


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
        flat = x.flatten(1)
        mean = flat.mean(1).view(-1, 1, 1, 1)
        std = flat.std(1).view(-1, 1, 1, 1)
        x = (x - mean) / (std + self.eps)
        return x * self.gamma.view(1, -1, 1, 1) + self.beta.view(1, -1, 1, 1)


class AdaptiveInstanceNorm(nn.Module):
    """AdaIN (paper eq. 7): instance-normalise, then scale by gamma and shift by beta.

    It has no parameters of its own: gamma and beta come from the style MLP and are passed in.
    """

    def __init__(self, num_features: int, eps: float = EPS):
        super().__init__()
        self.num_features = num_features
        self.eps = eps

    def forward(self, x: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        x = F.instance_norm(x, eps=self.eps)
        return x * gamma[:, :, None, None] + beta[:, :, None, None]


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
        x = self.conv(x)
        x = self.norm(x, *adain) if self.is_adain else self.norm(x)
        return self.activation(x)


class ResBlock(nn.Module):
    """Two 3x3 convolution blocks (the second without activation) added to the input."""

    def __init__(self, channels: int, norm: str, activation: str, pad_type: str):
        super().__init__()
        self.model = nn.Sequential(
            ConvBlock(channels, channels, 3, 1, 1, norm, activation, pad_type),
            ConvBlock(channels, channels, 3, 1, 1, norm, "none", pad_type),
        )

    def forward(self, x: torch.Tensor, adain: list | None = None) -> torch.Tensor:
        if adain is None:
            return x + self.model(x)
        first, second = self.model
        return x + second(first(x, adain[0]), adain[1])


class ResBlocks(nn.Module):
    """A stack of residual blocks; with AdaIN each block takes two (beta, gamma) pairs."""

    def __init__(self, n_blocks: int, channels: int, norm: str, activation: str, pad_type: str):
        super().__init__()
        self.model = nn.Sequential(*(ResBlock(channels, norm, activation, pad_type)
                                     for _ in range(n_blocks)))

    def forward(self, x: torch.Tensor, adain: list | None = None) -> torch.Tensor:
        if adain is None:
            return self.model(x)
        for i, block in enumerate(self.model):
            x = block(x, adain[2 * i: 2 * i + 2])
        return x


class LinearBlock(nn.Module):
    """Fully connected layer, then activation."""

    def __init__(self, in_features: int, out_features: int, activation: str = "relu"):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features, bias=True)
        self.activation = _lookup(ACTIVATIONS, activation, "activation")()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.fc(x))
