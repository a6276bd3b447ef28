"""Domain-invariant perceptual loss (paper appendix B.2): VGG16 relu5_3 features, instance-normalised.

The ImageNet weights come through torchvision (a download on first use); tests build it with
random weights (``pretrained=False``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError

RELU5_3 = 30  # vgg16.features[:30] ends with relu5_3
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualLoss(nn.Module):
    """``mean((IN(vgg(x)) - IN(vgg(y)))^2)`` for images in [-1, 1]; the VGG is frozen."""

    def __init__(self, pretrained: bool = True):
        super().__init__()
        from torchvision.models import VGG16_Weights, vgg16

        try:
            net = vgg16(weights=VGG16_Weights.IMAGENET1K_V1 if pretrained else None)
        except Exception as e:  # no network, corrupt cache, ...
            raise ConfigError(f"cannot load VGG16 weights for the perceptual loss (vgg_w > 0): {e}; "
                              "set vgg_w = 0 or make the torchvision weights available offline") from None
        self.features = net.features[:RELU5_3].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        x = ((x + 1) / 2 - self.mean) / self.std
        return F.instance_norm(self.features(x))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self._features(x), self._features(y))

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()  # never leave eval mode
        return self
