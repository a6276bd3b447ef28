"""torch.compile for the training step: the device-specific machinery, kept out of the loop.

At small batches a MUNIT step on a GPU is bound by kernel launches, not arithmetic. Compiled, each
objective (the discriminators' losses, the generators' losses) is one graph for its forward and
one for its backward; on CUDA those graphs are captured as CUDA graphs ("reduce-overhead"), so a
step replays a few graphs instead of launching a thousand kernels one by one.

Rules the trainer keeps so that this works:

- one graph per objective (``fullgraph=True``): a graph break would be an error here, not a silent
  slowdown; shapes are static (one batch size, one crop size), so nothing recompiles;
- a CUDA graph reuses its output memory: a tensor a compiled objective returns is overwritten by
  that objective's next replay. The trainer copies what it keeps (the loss values, in one stacked
  copy) and uses the rest (the translations) within the same step.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

# What torch.compile lowers the graphs with. Tests on a CPU use "aot_eager" (the same capture,
# forward and backward graphs, without generating C++), which is quick and needs no compiler.
BACKEND = "inductor"


def wants_compile(setting: bool | None, device: torch.device, distributed: bool = False) -> bool:
    """``--compile`` / ``--no-compile`` as given; left unset, compile where it pays and has been
    tried: on one CUDA device (with DistributedDataParallel it stays opt-in until measured there)."""
    if setting is not None:
        return setting
    return device.type == "cuda" and not distributed


class CompiledStep:
    """Compiles the trainer's objectives and marks where each step begins for CUDA graphs.

    ``seconds`` is the wall time of the first step (nearly all of it compilation), once known.
    """

    def __init__(self, device: torch.device, enabled: bool):
        self.enabled = enabled
        self.cuda_graphs = enabled and device.type == "cuda"
        self.seconds: float | None = None
        self._first_started: float | None = None

    def objective(self, module: nn.Module) -> nn.Module | Callable:
        if not self.enabled:
            return module
        return torch.compile(module, fullgraph=True, backend=BACKEND,
                             mode="reduce-overhead" if self.cuda_graphs and BACKEND == "inductor" else None)

    def begin(self) -> None:
        """Call at the start of every step: tells CUDA graphs that the previous step's outputs are done."""
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        if self.enabled and self._first_started is None:
            self._first_started = time.perf_counter()

    def end(self) -> None:
        if self.enabled and self.seconds is None and self._first_started is not None:
            self.seconds = time.perf_counter() - self._first_started
