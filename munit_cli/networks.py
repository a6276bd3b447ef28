"""MUNIT's networks (paper appendix B): encoders, style MLP, AdaIN decoder, multi-scale discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .errors import ConfigError
from .layers import AdaptiveInstanceNorm, ConvBlock, GlobalAveragePool, LinearBlock, ResBlocks
from .spectral import spectral_norm


class StyleEncoder(nn.Module):
    """c7s1-d, two stride-2 convs doubling the width, more at constant width, GAP, 1x1 conv."""

    def __init__(self, n_downsample: int, in_channels: int, dim: int, style_dim: int,
                 activation: str, pad_type: str):
        super().__init__()
        layers: list[nn.Module] = [ConvBlock(in_channels, dim, 7, 1, 3, "none", activation, pad_type)]
        for i in range(n_downsample):
            out = dim * 2 if i < 2 else dim
            layers.append(ConvBlock(dim, out, 4, 2, 1, "none", activation, pad_type))
            dim = out
        layers += [GlobalAveragePool(), nn.Conv2d(dim, style_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).flatten(1)  # [N, style_dim]


class ContentEncoder(nn.Module):
    """c7s1-d, n_downsample stride-2 convs doubling the width, residual blocks; InstanceNorm throughout."""

    def __init__(self, n_downsample: int, n_res: int, in_channels: int, dim: int,
                 activation: str, pad_type: str):
        super().__init__()
        layers: list[nn.Module] = [ConvBlock(in_channels, dim, 7, 1, 3, "in", activation, pad_type)]
        for _ in range(n_downsample):
            layers.append(ConvBlock(dim, dim * 2, 4, 2, 1, "in", activation, pad_type))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, "in", activation, pad_type))
        self.model = nn.Sequential(*layers)
        self.out_channels = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MLP(nn.Module):
    """Maps a style code to every AdaIN layer's (beta, gamma): fc-act, fc-act, fc."""

    def __init__(self, style_dim: int, out_features: int, dim: int, activation: str, n_blocks: int = 3):
        super().__init__()
        layers = [LinearBlock(style_dim, dim, activation)]
        layers += [LinearBlock(dim, dim, activation) for _ in range(n_blocks - 2)]
        layers.append(LinearBlock(dim, out_features, "none"))
        self.model = nn.Sequential(*layers)

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        return self.model(style.flatten(1))


class Decoder(nn.Module):
    """AdaIN residual blocks, then (2x nearest upsample, 5x5 conv, LayerNorm) x n, then c7s1 + tanh."""

    def __init__(self, n_upsample: int, n_res: int, dim: int, out_channels: int,
                 activation: str, pad_type: str):
        super().__init__()
        layers: list[nn.Module] = [ResBlocks(n_res, dim, "adain", activation, pad_type)]
        for _ in range(n_upsample):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       ConvBlock(dim, dim // 2, 5, 1, 2, "ln", activation, pad_type)]
            dim //= 2
        layers.append(ConvBlock(dim, out_channels, 7, 1, 3, "none", "tanh", pad_type))
        self.model = nn.Sequential(*layers)
        self.channels = [m.num_features for m in self.modules() if isinstance(m, AdaptiveInstanceNorm)]
        # Compute each (upsample, 5x5 conv) pair at the low resolution (layers.upsample_conv5x5) and
        # the final convolution on 2x2 pixel blocks (layers.conv_on_2x2_blocks; after at least one
        # upsampling, its input has even sides). Same weights and results (to float rounding); False
        # runs the released computation.
        if n_upsample < 1:
            raise ConfigError(f"the decoder needs at least one upsampling; got {n_upsample}")
        self.fast_convs = True

    def split_adain_params(self, params: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Cut the MLP output into one (beta, gamma) pair per AdaIN layer, in forward order."""
        # One split, not a slice per parameter: its gradient is one concatenation (or stack), where
        # slices each add a zero-padded copy of their gradient into the whole.
        if len(set(self.channels)) == 1:  # MUNIT's decoder: every AdaIN layer has the same width
            # Each part a contiguous [N, C] block (one copy in all), which layers' fused AdaIN reads
            # as N*C numbers without a copy of its own.
            parts = params.view(params.shape[0], -1, self.channels[0]).transpose(0, 1).contiguous().unbind(0)
        else:
            parts = params.split([c for c in self.channels for _ in range(2)], dim=1)
        return list(zip(parts[0::2], parts[1::2]))

    def content_conv(self, content: torch.Tensor) -> torch.Tensor:
        """The first residual convolution, the only one that sees the content code alone.

        Decoding one content code in many styles computes it once (``inference.decode_styles``).
        """
        return self.model[0].model[0].model[0].convolve(content)

    def forward(self, content: torch.Tensor, adain_params: torch.Tensor,
                content_conv: torch.Tensor | None = None) -> torch.Tensor:
        """Decode content [N, C, h, w] with AdaIN parameters [N, n_adain_params].

        A content of batch 1 is decoded in each of the N styles; ``content_conv`` is then its
        ``content_conv``, if already computed.
        """
        res_blocks, *rest = self.model
        x = res_blocks(content, self.split_adain_params(adain_params), content_conv)
        *middle, last = rest
        i = 0  # indices, not an iterator: torch 2.4's compiler cannot trace next() on one
        while i < len(middle):
            if isinstance(middle[i], nn.Upsample) and self.fast_convs:
                x = middle[i + 1].forward_upsampled(x)  # the upsampling and the convolution after it
                i += 2
            else:
                x = middle[i](x)
                i += 1
        return last.forward_on_blocks(x) if self.fast_convs else last(x)


class Generator(nn.Module):
    """One domain's auto-encoder: ``encode`` an image into (content, style), ``decode`` them back."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.enc_style = StyleEncoder(c.style_n_downsample, c.input_channels, c.gen_dim, c.style_dim,
                                      c.activation, c.padding)
        self.enc_content = ContentEncoder(c.n_downsample, c.n_res, c.input_channels, c.gen_dim,
                                          c.activation, c.padding)
        self.dec = Decoder(c.n_downsample, c.n_res, self.enc_content.out_channels, c.input_channels,
                           c.activation, c.padding)
        self.mlp = MLP(c.style_dim, c.n_adain_params, c.mlp_dim, c.activation)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the content code [N, C, H/4, W/4] and the style code [N, style_dim]."""
        return self.enc_content(x), self.enc_style(x)

    def encode_style(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc_style(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Decode a content code with a style code ([N, style_dim] or [N, style_dim, 1, 1])."""
        return self.dec(content, self.mlp(style))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct x from its own content and style."""
        content, style = self.encode(x)
        return self.decode(content, style)


# Spectral norm rescales weights rather than activations: every convolution of a discriminator gets it
# (as in SN-GAN and imaginaire's MUNIT), the activations no normalisation.


def _activation_norm(dis_norm: str) -> str:
    """The normalisation of a discriminator's activations for ``dis_norm``."""
    return "none" if dis_norm == "sn" else dis_norm


def _with_weight_norm(net: nn.Sequential, dis_norm: str) -> nn.Sequential:
    """``net`` with spectral norm on every convolution where ``dis_norm`` is "sn"."""
    if dis_norm == "sn":
        for conv in [m for m in net.modules() if isinstance(m, nn.Conv2d)]:
            spectral_norm(conv)  # u, v are buffers (resume); see spectral.py
    return net


class MultiScaleDiscriminator(nn.Module):
    """The same PatchGAN-style net applied to the image at ``num_scales`` resolutions."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.cnns = nn.ModuleList(self._make_net(c) for _ in range(c.dis_num_scales))

    @staticmethod
    def _make_net(c: ModelConfig) -> nn.Sequential:
        dim = c.dis_dim
        norm = _activation_norm(c.dis_norm)
        layers: list[nn.Module] = [ConvBlock(c.input_channels, dim, 4, 2, 1, "none", c.dis_activation, c.padding)]
        for _ in range(c.dis_n_layer - 1):
            layers.append(ConvBlock(dim, dim * 2, 4, 2, 1, norm, c.dis_activation, c.padding))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        return _with_weight_norm(nn.Sequential(*layers), c.dis_norm)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for i, net in enumerate(self.cnns):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(net(x))
        return outputs


class ContentDiscriminator(nn.Module):
    """Which domain a content code came from (DRIT's content discriminator): two stride-2
    convolutions at the code's width, then a 1x1 convolution to a patch map of scores (domain a
    high, domain b low). Normalised as the image discriminators are."""

    N_LAYERS = 2

    def __init__(self, config: ModelConfig):
        super().__init__()
        c, dim = config, config.content_dim
        norm = _activation_norm(c.dis_norm)
        layers: list[nn.Module] = [ConvBlock(dim, dim, 4, 2, 1, "none" if i == 0 else norm, c.dis_activation,
                                             c.padding) for i in range(self.N_LAYERS)]
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        self.model = _with_weight_norm(nn.Sequential(*layers), c.dis_norm)

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        return self.model(content)
