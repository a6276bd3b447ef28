"""Which device a command runs on: ``--device auto|cpu|cuda|cuda:N|mps``, checked against what exists.

Every command resolves its ``--device`` here, so the rules and the error messages are the same
everywhere: ``cuda`` is the current CUDA device (index 0 unless CUDA_VISIBLE_DEVICES or torchrun
say otherwise; under torchrun each process takes ``cuda:LOCAL_RANK``), and a device that does not
exist is a ``DeviceError`` naming the devices that do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from .errors import DeviceError
from .layers import AdaptiveInstanceNorm, ConvBlock, InstanceNorm, LayerNorm
from .networks import Decoder

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    """The devices this process can use, as ``--device`` spells them."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        found.append("mps")
    return found


def _no_such_device(name: str, why: str) -> DeviceError:
    return DeviceError(f"--device {name}: {why}; this machine has {', '.join(available_devices())} "
                       f"(use one of those, or --device auto)")


def select_device(name: str, local_rank: int | None = None) -> torch.device:
    """The device for ``--device name``; ``local_rank`` is this process's torchrun LOCAL_RANK, if any.

    ``auto`` is CUDA, then MPS, then the CPU. A bare ``cuda`` gets an explicit index, which
    ``torch.cuda.set_device`` and DistributedDataParallel need.
    """
    spec = name.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return _cuda(None, local_rank, name)
        return torch.device("mps" if _mps_available() else "cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise DeviceError(f"--device {name}: not a device; use {DEVICE_CHOICES}") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "" if torch.version.cuda else f" (this torch {torch.__version__} is a CPU-only build)"
            raise _no_such_device(name, f"no CUDA GPU is available{build}")
        return _cuda(device.index, local_rank, name)
    if device.type == "mps":
        if not _mps_available():
            raise _no_such_device(name, "MPS (Apple silicon) is not available")
        return device
    raise DeviceError(f"--device {name}: device type {device.type!r} is not supported; use {DEVICE_CHOICES}")


def _cuda(index: int | None, local_rank: int | None, name: str) -> torch.device:
    count = torch.cuda.device_count()
    if index is None:
        index = local_rank if local_rank is not None else torch.cuda.current_device()
    if not 0 <= index < count:
        raise _no_such_device(name, f"there is no CUDA device {index}")
    return torch.device("cuda", index)


# Path switch -> the layers that carry it. Each picks between two computations of the same result:
# the norms' ``few_kernels``, the decoders' ``fast_convs`` and the convolution blocks' ``nnpack``.
SWITCHED_LAYERS: dict[str, tuple[type[nn.Module], ...]] = {
    "few_kernels": (AdaptiveInstanceNorm, InstanceNorm, LayerNorm),
    "fast_convs": (Decoder,),
    "nnpack": (ConvBlock,),
}
SWITCHES = tuple(SWITCHED_LAYERS)


def path_switches(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """Every (layer, attribute) of ``model`` that picks between two computation paths (see
    ``SWITCHED_LAYERS``). All False is the plain computation (the ONNX graphs' paths)."""
    return [(module, switch) for module in model.modules()
            for switch, layers in SWITCHED_LAYERS.items() if isinstance(module, layers)]


def set_paths(model: nn.Module, **values: bool) -> nn.Module:
    """Set the named switches (``few_kernels``, ``fast_convs``, ``nnpack``) on every layer that has
    them, leave the others; return ``model``. E.g. ``set_paths(model, nnpack=False)``."""
    unknown = set(values) - set(SWITCHES)
    if unknown:
        raise ValueError(f"no path switch named {', '.join(sorted(unknown))}; the switches are {', '.join(SWITCHES)}")
    for module, attribute in path_switches(model):
        if attribute in values:
            setattr(module, attribute, values[attribute])
    return model


@contextlib.contextmanager
def plain_paths(model: nn.Module) -> Iterator[nn.Module]:
    """Every switch off inside (the plain computation: the norms written out, the released decoder,
    ``F.conv2d``); as they were afterwards."""
    switches = path_switches(model)
    saved = [getattr(module, attribute) for module, attribute in switches]
    set_paths(model, **dict.fromkeys(SWITCHES, False))
    try:
        yield model
    finally:
        for (module, attribute), value in zip(switches, saved):
            setattr(module, attribute, value)


def choose_paths(model: nn.Module, device_type: str) -> nn.Module:
    """Set the computation paths that suit ``device_type`` on every layer that has two; return ``model``.

    On a CPU: the fast paths measured there (norm statistics as separate passes, the decoder's
    upsampling convolutions at the low resolution and its last convolution on 2x2 blocks; fewer
    multiply-adds in more operators; and for inference, NNPACK's Winograd convolutions, see
    ``nnpack``). Elsewhere (CUDA), where a small batch is bound by kernel launches rather than
    arithmetic: ATen's fused norms and the plain convolutions, the fewest operators. All give the
    same results to float rounding (tests/test_networks.py, tests/test_nnpack.py).
    """
    cpu = device_type == "cpu"
    return set_paths(model, few_kernels=not cpu, fast_convs=cpu, nnpack=cpu)
