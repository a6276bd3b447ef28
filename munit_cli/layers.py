"""Building blocks: convolution block, residual blocks, AdaIN and MUNIT's LayerNorm.

Module and attribute names mirror the released MUNIT code so that a released state dict maps
onto ours key for key (see ``checkpoint.import_official``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from . import nnpack
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


def _as(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``x.to(dtype)``, but no op at all where x has that dtype already: the TorchScript ONNX
    exporter writes such no-op casts into graphs that onnxruntime then refuses to load."""
    return x if x.dtype == dtype else x.to(dtype)


def group_moments(x: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance of x [N, C, H, W] over each of ``groups`` channel groups, in float32.

    Returns two [N, groups] tensors. Without autograd: the statistics pass of group norm, one fused
    kernel (the standard deviation rounded to x's dtype). With autograd, whose gradient that kernel
    does not give: the mean, then the sum of squares about it, from a float32 copy (two passes are
    as accurate as Welford's update here, and several times faster on a CPU). The squares are
    summed image row by image row, then over the rows: one running sum over 4M values loses
    ~1e-4 of the variance in float32, row sums lose ~1e-8.
    """
    n, c, h, w = x.shape
    if torch.is_grad_enabled() and x.requires_grad:
        rows = _as(x, torch.float32).reshape(n, groups, -1, w)
        mean = rows.mean((2, 3), keepdim=True)
        var = torch.linalg.vector_norm(rows - mean, dim=3).square().mean(2) / w
        return mean[:, :, 0, 0], var
    # The kernel wants a contiguous input on some torch versions (2.11 raises on a sliced one).
    _, mean, rstd = torch.ops.aten.native_group_norm(x.contiguous(), None, None, n, c, h * w, groups, 0.0)
    return _as(mean, torch.float32), _as(rstd, torch.float32).pow(-2)  # rstd = 1 / sqrt(var): inf (var 0) gives 0


def is_channels_last(x: torch.Tensor) -> bool:
    """An NHWC tensor (``channels_last``) that is not also NCHW-contiguous: the layout a view or a
    ``.contiguous()`` would have to copy out of."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def layout_keeping_moments(x: torch.Tensor, dims: tuple[int, ...], correction: int = 0):
    """x minus its mean over ``dims``, and the variance over ``dims`` (kept as size 1), as sums:
    ``var_mean``'s and ``mean``'s backward write the broadcast gradient as a new NCHW tensor
    whatever x's layout; a sum's is a free broadcast view, so an NHWC x gets an NHWC gradient."""
    count = 1
    for d in dims:  # (a loop, not math.prod of a generator, which torch.compile cannot trace)
        count *= x.shape[d]
    centered = x - x.sum(dims, keepdim=True) / count
    return centered, centered.square().sum(dims, keepdim=True) / (count - correction)


def _normalize_keeping_layout(x: torch.Tensor, gamma: torch.Tensor | None, beta: torch.Tensor | None,
                              eps: float) -> torch.Tensor:
    """Instance norm (with AdaIN's per-sample gamma and beta [N, C], if given) of an NHWC x [N or 1,
    C, H, W], output NHWC: statistics as sums, then one multiply-add, in float32.

    ATen's group norm on a CUDA device (as of torch 2.11; pytorch/pytorch#111824) and the
    batch-as-channels view both need x in NCHW, so on an NHWC x they would each cost a layout
    conversion forward and backward. Every op here keeps x's layout. It computes in float32: in
    bfloat16, x minus a large mean would lose the spread to rounding.
    """
    x32 = x if x.dtype == torch.float64 else _as(x, torch.float32)
    centered, var = layout_keeping_moments(x32, (2, 3))  # var [N or 1, C, 1, 1]
    scale = torch.rsqrt(var + eps)
    if gamma is not None:
        scale = _as(gamma, x32.dtype)[:, :, None, None] * scale  # [N, C, 1, 1]: broadcasts a batch-1 x
    out = centered * scale if beta is None else torch.addcmul(_as(beta, x32.dtype)[:, :, None, None], centered, scale)
    return _as(out, x.dtype)


def instance_normalize(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Instance normalisation as ATen's group norm with one channel per group: one kernel forward
    and one backward. Called as the ATen op, not ``F.group_norm``, so autocast leaves it alone: a
    bfloat16 input stays bfloat16 (the kernel accumulates its statistics in float32) instead of
    costing a cast to float32 and one back, each with its own backward. An NHWC x stays NHWC."""
    if is_channels_last(x):
        return _normalize_keeping_layout(x, None, None, eps)
    n, c, h, w = x.shape
    # Contiguous, as F.group_norm makes it (the kernel requires it; an expanded batch-1 content is not).
    return torch.ops.aten.native_group_norm(x.contiguous(), None, None, n, c, h * w, c, eps)[0]


def adaptive_instance_normalize(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:
    """AdaIN as one kernel forward and one backward (which also gives gamma's and beta's gradients).

    x [N or 1, C, H, W] is viewed as one sample of N*C channels, so that group norm with one
    channel per group normalises each (sample, channel) and applies that pair's own scale and
    shift (the released AdaIN does the same with batch norm). Normalising, then a broadcast
    multiply-add, costs one kernel more forward and six more backward. An NHWC x, which that view
    would copy, is normalised keeping its layout instead.
    """
    if is_channels_last(x):
        return _normalize_keeping_layout(x, gamma, beta, eps)
    n, c, h, w = gamma.shape[0], x.shape[1], x.shape[2], x.shape[3]
    x = x.expand(n, c, h, w).contiguous().view(1, n * c, h, w)  # a content of batch 1 serves n styles
    out = torch.ops.aten.native_group_norm(x, _as(gamma, x.dtype).reshape(-1), _as(beta, x.dtype).reshape(-1),
                                           1, n * c, h * w, n * c, eps)[0]
    # Back to [N, C, H, W] as a new tensor, not a view: an in-place activation on a view would cost
    # autograd a copy of the whole (CopySlices) in the backward.
    return torch.ops.aten._unsafe_view(out, (n, c, h, w))


def scale_shift(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``x * scale + shift`` with [N, C] float32 scale and shift, in x's dtype.

    Multiply, then add in place: about 3x faster on a CPU than ``torch.addcmul``, whose broadcasting
    path is slow there (and 5x for bfloat16).
    """
    scale, shift = _as(scale, x.dtype)[:, :, None, None], _as(shift, x.dtype)[:, :, None, None]
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
        self.few_kernels = False  # see ``devices.choose_paths``

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.few_kernels:
            # Statistics in one kernel (in float32), then one fused multiply-add with the folded affine.
            stats_input = x if x.dtype == torch.float64 else _as(x, torch.float32)
            gamma = _as(self.gamma, stats_input.dtype).view(1, -1, 1, 1)
            beta = _as(self.beta, stats_input.dtype).view(1, -1, 1, 1)
            if is_channels_last(x):  # sums keep the layout (see layout_keeping_moments); float32 throughout
                centered, var = layout_keeping_moments(stats_input, (1, 2, 3), correction=1)
                return _as(torch.addcmul(beta, centered, gamma / (var.sqrt() + self.eps)), x.dtype)
            var, mean = torch.var_mean(stats_input, dim=(1, 2, 3), keepdim=True)  # unbiased
            scale = gamma / (var.sqrt() + self.eps)
            shift = beta - mean * scale
            return torch.addcmul(_as(shift, x.dtype), x, _as(scale, x.dtype))
        mean, var = group_moments(x, 1)  # [N, 1]
        n = x[0].numel()
        std = (var * (n / (n - 1))).sqrt()  # unbiased
        # Fold normalisation and affine into one scale and shift per (sample, channel).
        scale = _as(self.gamma[None, :], torch.float32) / (std + self.eps)
        shift = _as(self.beta[None, :], torch.float32) - mean * scale
        return scale_shift(x, scale, shift)


class InstanceNorm(nn.Module):
    """Instance normalisation without affine parameters or running statistics (``nn.InstanceNorm2d``'s
    defaults, and like it no state). With ``few_kernels``, ATen's group norm with one channel per
    group: one kernel forward and one backward, where instance norm's batch-norm route takes several."""

    def __init__(self, num_features: int, eps: float = EPS):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.few_kernels = False  # see ``devices.choose_paths``

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.few_kernels:
            return instance_normalize(x, self.eps)
        return F.instance_norm(x, eps=self.eps)


class AdaptiveInstanceNorm(nn.Module):
    """AdaIN (paper eq. 7): instance-normalise, then scale by gamma and shift by beta.

    It has no parameters of its own: gamma and beta come from the style MLP and are passed in.
    """

    def __init__(self, num_features: int, eps: float = EPS):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.few_kernels = False  # see ``devices.choose_paths``

    def forward(self, x: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """x: [N or 1, C, H, W]; beta, gamma: [N, C]. An x of batch 1 is shared by all N styles."""
        if self.few_kernels:
            return adaptive_instance_normalize(x, gamma, beta, self.eps)
        mean, var = group_moments(x, x.shape[1])  # [N or 1, C]
        # gamma * (x - mean) / sqrt(var + eps) + beta, folded into one scale and shift per channel.
        scale = _as(gamma, torch.float32) * torch.rsqrt(var + self.eps)
        shift = _as(beta, torch.float32) - mean * scale
        return scale_shift(x, scale, shift)


NORMS: dict[str, Callable[[int], nn.Module]] = {
    "none": lambda channels: nn.Identity(),
    "bn": lambda channels: nn.BatchNorm2d(channels),
    "in": lambda channels: InstanceNorm(channels),
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
        self.nnpack = False  # see ``devices.choose_paths``

    def forward(self, x: torch.Tensor, adain: tuple[torch.Tensor, torch.Tensor] | None = None):
        return self.finish(self.convolve(x), adain)

    def convolve(self, x: torch.Tensor) -> torch.Tensor:
        """``self.conv(x)``; through NNPACK where ``nnpack`` is set and it can (``nnpack.usable``)."""
        conv = self.conv
        # Not for a parametrized weight (spectral norm): each read of it would run a power iteration.
        if (self.nnpack and not parametrize.is_parametrized(conv)
                and nnpack.usable(x, conv.weight, conv.stride, conv.groups, conv.dilation)):
            return nnpack.conv2d_module(x, conv)
        return conv(x)

    def finish(self, x: torch.Tensor, adain: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Normalisation and activation of an already convolved x."""
        x = self.norm(x, *adain) if self.is_adain else self.norm(x)
        return self.activation(x)

    def forward_upsampled(self, x: torch.Tensor) -> torch.Tensor:
        """This block applied to ``nearest_upsample_2x(x)``, computed at the low resolution."""
        return self.finish(upsample_conv5x5(x, self.conv, self.nnpack))

    def forward_on_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """This block (a 'same' convolution) computed on 2x2 pixel blocks; x's height and width even."""
        return self.finish(conv_on_2x2_blocks(x, self.conv, self.nnpack))


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
        hidden = first.finish(first.convolve(x) if first_conv is None else first_conv, adain[0])
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


class GlobalAveragePool(nn.Module):
    """``nn.AdaptiveAvgPool2d(1)`` (the style encoder's pooling) as a sum divided by the pixel count:
    the same number, but the gradient keeps an NHWC input's layout (see ``layout_keeping_moments``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum((2, 3), keepdim=True) / (x.shape[2] * x.shape[3])


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
# resolution; reflection padding differs in one padded line per side, whose contribution to the
# outermost output rows and columns is added afterwards (``_add_reflection_terms``).

_TAP_GROUPS = {0: ((0, 1), (2, 3), (4,)), 1: ((0,), (1, 2), (3, 4))}  # phase -> taps of rows m-1, m, m+1
_FOLD = torch.zeros(2, 3, 5)
for _phase, _groups in _TAP_GROUPS.items():
    for _offset, _taps in enumerate(_groups):
        _FOLD[_phase, _offset, list(_taps)] = 1.0
_LOW_RES_PADDING = {"zeros": "constant", "replicate": "replicate", "reflect": "replicate"}


def conv2d_or_nnpack(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, use_nnpack: bool) -> torch.Tensor:
    """``F.conv2d(x, weight, bias)``; through NNPACK where ``use_nnpack`` and it can (``nnpack.usable``)."""
    if use_nnpack and nnpack.usable(x, weight):
        return nnpack.conv2d(x, weight, bias)
    return F.conv2d(x, weight, bias)


def upsample_conv5x5(x: torch.Tensor, conv: nn.Conv2d, use_nnpack: bool = False) -> torch.Tensor:
    """``conv(nearest_upsample_2x(x))`` for a 5x5, stride-1, padding-2 convolution, about 2.8x cheaper."""
    weight, bias = conv.weight, conv.bias
    fold = _FOLD.to(device=weight.device, dtype=weight.dtype)
    # [out, in, 5, 5] -> [out, phase_y, phase_x, in, 3, 3] -> [out * 4, in, 3, 3] (pixel-shuffle order)
    phases = torch.einsum("ayj,bxk,oijk->oabiyx", fold, fold, weight).reshape(-1, weight.shape[1], 3, 3)
    low = F.pad(x, (1, 1, 1, 1), mode=_LOW_RES_PADDING[conv.padding_mode])
    out = pixel_shuffle_2x(conv2d_or_nnpack(low, phases, bias.repeat_interleave(4), use_nnpack))
    return _add_reflection_terms(out, x, weight) if conv.padding_mode == "reflect" else out


def pixel_shuffle_2x(x: torch.Tensor) -> torch.Tensor:
    """``F.pixel_shuffle(x, 2)``; eagerly as a view, a permute and one copy: 2-4x faster on a CPU.

    Traced graphs (export, compile) keep the op itself: ONNX Runtime runs it as DepthToSpace,
    many times faster than the 6-d transpose.
    """
    if torch.compiler.is_compiling():
        return F.pixel_shuffle(x, 2)
    return x.unflatten(1, (-1, 2, 2)).permute(0, 1, 4, 2, 5, 3).flatten(4, 5).flatten(2, 3)


def _add_reflection_terms(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Turn ``out`` (replicate padding of the upsampled x) into reflection padding (in place, eagerly).

    With U the upsampled x, the two paddings agree except on the outermost padded line of each side:
    reflection reads U's third line (x's second), replication U's first (x's first). Only the
    outermost output line reads it, through the outermost kernel row (or column): add that kernel
    line applied to the difference. Rows first, with reflection along the row, then columns with
    replication along the column: the two terms sum to the whole difference, corners included.
    """
    def row_term(diff: torch.Tensor, kernel_row: int) -> torch.Tensor:  # diff [N, C, w] -> [N, O, 1, 2w]
        line = diff.repeat_interleave(2, dim=-1).unsqueeze(2)
        return F.conv2d(F.pad(line, (2, 2, 0, 0), mode="reflect"), weight[:, :, kernel_row:kernel_row + 1])

    def column_term(diff: torch.Tensor, kernel_col: int) -> torch.Tensor:  # diff [N, C, h] -> [N, O, 2h, 1]
        line = diff.repeat_interleave(2, dim=-1).unsqueeze(3)
        return F.conv2d(F.pad(line, (0, 0, 2, 2), mode="replicate"), weight[:, :, :, kernel_col:kernel_col + 1])

    # Negative indices: no shape arithmetic, so exported graphs keep dynamic sizes.
    out[:, :, :1] += row_term(x[:, :, 1] - x[:, :, 0], 0)
    out[:, :, -1:] += row_term(x[:, :, -2] - x[:, :, -1], 4)
    left, right = column_term(x[:, :, :, 1] - x[:, :, :, 0], 0), column_term(x[:, :, :, -2] - x[:, :, :, -1], 4)
    if torch.compiler.is_compiling():  # ONNX turns in-place column updates into full-size transposes
        return torch.cat([out[..., :1] + left, out[..., 1:-1], out[..., -1:] + right], dim=3)
    out[:, :, :, :1] += left
    out[:, :, :, -1:] += right
    return out


# ---------------------------------------------------------------------------------------------
# A 'same' convolution computed on 2x2 pixel blocks.
#
# oneDNN computes output channels in blocks of 16, so the decoder's final 7x7 convolution to 3
# (RGB) channels costs as much as one to 16 channels. On 2x2 pixel blocks (pixel unshuffle) the
# same convolution has 4x the inputs, 12 outputs (one set per output phase) and a 4x4 kernel: a
# third of the multiply-adds of the 16-channel work (benchmarks/layers.py times it).


def _tap_indices(kernel_size: int) -> tuple[tuple[int, ...], ...]:
    """The (p, r, t, i) of every 1 in ``_block_taps``, as four index tuples."""
    taps = (kernel_size + 1) // 2
    ones = [(p, r, t, 2 * t + r - p) for p in range(2) for r in range(2) for t in range(taps)
            if 0 <= 2 * t + r - p < kernel_size]
    return tuple(zip(*ones))


# Plain Python constants, made at import: a call made while tracing can never leave a traced
# tensor here, and torch.compile reads them as constants (it warns about functools caches).
_BLOCK_TAP_INDICES = {k: _tap_indices(k) for k in (1, 3, 5, 7, 9)}


def _block_taps(kernel_size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """[output phase p, input phase r, block tap t, kernel tap i]: 1 where tap i of output pixel
    2m+p reads phase r of padded block m+t, i.e. where p + i = 2t + r."""
    select = torch.zeros(2, 2, (kernel_size + 1) // 2, kernel_size, device=device, dtype=dtype)
    select[_BLOCK_TAP_INDICES.get(kernel_size) or _tap_indices(kernel_size)] = 1.0
    return select


def pixel_unshuffle_2x(x: torch.Tensor) -> torch.Tensor:
    """``F.pixel_unshuffle(x, 2)``; eagerly as views, a permute and one copy (see ``pixel_shuffle_2x``)."""
    if torch.compiler.is_compiling():
        return F.pixel_unshuffle(x, 2)
    return x.unflatten(2, (-1, 2)).unflatten(4, (-1, 2)).permute(0, 1, 3, 5, 2, 4).flatten(1, 3)


def conv_on_2x2_blocks(x: torch.Tensor, conv: nn.Conv2d, use_nnpack: bool = False) -> torch.Tensor:
    """``conv(x)`` for a stride-1 convolution with an odd kernel and 'same' padding; x's H and W even."""
    weight, bias = conv.weight, conv.bias
    select = _block_taps(weight.shape[-1], weight.device, weight.dtype)
    # [out, in, k, k] -> [out, p, q, in, r, s, t, u] -> [out * 4, in * 4, taps, taps] (pixel-shuffle orders)
    kernel = torch.einsum("prti,qsuj,ocij->opqcrstu", select, select, weight).flatten(0, 2).flatten(1, 3)
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    blocks = pixel_unshuffle_2x(F.pad(x, (conv.padding[1],) * 2 + (conv.padding[0],) * 2, mode=mode))
    return pixel_shuffle_2x(conv2d_or_nnpack(blocks, kernel, bias.repeat_interleave(4), use_nnpack))
