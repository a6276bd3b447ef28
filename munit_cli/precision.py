"""Numeric precision: fp32, bf16 or fp16, and ``auto``, which picks bf16 where the hardware has it.

Training runs under autocast (float32 weights and optimiser state); on a GPU the convolutions and
linear layers compute with low-precision copies of the weights, refreshed once per objective
(``WorkingCopies``). Inference casts the weights once instead: autocast would cast every weight
again at every call.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16(device: torch.device) -> bool:
    """Whether the device computes bfloat16 natively (CUDA with bf16, CPUs with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` is bf16 where the hardware has it (faster than float32 in benchmarks/translate.py,
    output pixels within a few levels of float32's), float32 elsewhere."""
    if precision != "auto":
        return precision
    return "bf16" if native_bf16(device) else "fp32"


def autocast(device: torch.device, precision: str):
    """Autocast to ``precision`` (fp32, bf16, fp16 or auto) on ``device``; fp32 disables it."""
    dtype = DTYPES[resolve_precision(precision, device)]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)


def model_dtype(module: nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


def cast_for_inference(module: nn.Module, precision: str) -> nn.Module:
    """Cast ``module``'s weights, in place, to ``precision`` (auto: ``resolve_precision``) and return it.

    Inputs are then cast to match by ``inference.translate`` and friends, and the norms still
    compute their statistics in float32.
    """
    device = next(module.parameters()).device
    return module.to(DTYPES[resolve_precision(precision, device)])


def wants_working_copies(device: torch.device, distributed: bool) -> bool:
    """Where the training step computes with ``WorkingCopies``: on the devices that get the
    few-kernel layer paths (``devices.choose_paths``; launches are what a cast costs there), and not
    under DistributedDataParallel. A CPU keeps autocast: there a cast is cheap next to the arithmetic,
    and its layer paths reshape some weights (the decoder's folded kernels), whose gradients autocast
    sums in float32 and working copies would sum in bfloat16."""
    return device.type != "cpu" and not distributed


class WorkingCopies:
    """bf16 (or fp16) copies of the convolution and linear weights that the training step computes
    with, beside the float32 masters that the optimiser updates, checkpoints save and the EMA follows.

    Under autocast every weight is cast at each objective that uses it, and each cast has its own
    backward (~440 kernels per step for the default model): launches that bind a GPU step at small
    batches. Here one kernel copies every master into its working copy as an objective starts, and
    one copies the working gradients into the masters' after a backward. The numbers are the same:
    autocast would round the same masters to the same working values, its cast's backward copies the
    same low-precision gradients, and a weight used twice has its gradients summed in low precision
    either way. Parameters of other layers (the norms' affine) stay with autocast.

    Swapping works on the modules' registered parameters, so it is off under DistributedDataParallel
    (whose hooks watch the masters); ``enabled`` False makes every method a no-op. With the CUDA
    layer paths the numbers equal autocast's bit for bit (tests/test_working_copies.py).
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype, enabled: bool):
        self.enabled = enabled and dtype != torch.float32
        self._slots: list[tuple[nn.Module, str]] = []  # (module, parameter name) of every master
        self.masters: list[nn.Parameter] = []
        self.working: list[nn.Parameter] = []
        if not self.enabled:
            return
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                for name, master in module.named_parameters(recurse=False):
                    self._slots.append((module, name))
                    self.masters.append(master)
                    self.working.append(nn.Parameter(torch.empty_like(master, dtype=dtype)))
        self._grads = [torch.zeros_like(m) for m in self.masters]  # the masters' gradients, reused

    @contextlib.contextmanager
    def in_use(self):
        """Inside, the modules compute with working copies, fresh from the masters (one copy kernel)."""
        if not self.enabled:
            yield
            return
        with torch.no_grad():
            torch._foreach_copy_(self.working, self.masters)
        for (module, name), master, working in zip(self._slots, self.masters, self.working):
            if working.requires_grad != master.requires_grad:  # frozen masters (the G step's discriminators)
                working.requires_grad_(master.requires_grad)
            working.grad = None
            module._parameters[name] = working
        try:
            yield
        finally:
            for (module, name), master in zip(self._slots, self.masters):
                module._parameters[name] = master

    def gradients_to_masters(self) -> None:
        """After a backward: the working copies' gradients become the masters' (one copy kernel)."""
        if not self.enabled:
            return
        pairs = [(i, w.grad) for i, w in enumerate(self.working) if w.grad is not None]
        if not pairs:
            return
        torch._foreach_copy_([self._grads[i] for i, _ in pairs], [g for _, g in pairs])
        for i, _ in pairs:
            self.masters[i].grad = self._grads[i]
            self.working[i].grad = None
