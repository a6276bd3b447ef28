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

Compiling is optional speed and must never cost the run: no C compiler in a slim container, a
Triton that does not match the driver, an inductor bug on one torch version, a graph that will not
capture. Whatever goes wrong while an objective compiles or runs compiled, ``CompiledStep.run``
redoes that objective's forward and backward eagerly (its gradients are cleared first; no optimiser
has stepped on them yet; the buffers a forward updates in place, spectral norm's vectors, and the
random streams are put back as they were) and every later step runs eagerly: the run goes on from
the same state, with the weights a ``--no-compile`` run would have.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

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


def describe_failure(error: BaseException) -> str:
    """A compile failure in a few words: its type and the first line of its message, shortened
    (inductor's messages run to pages; the traceback is for MUNIT_DEBUG=1). A backend's failure
    wrapped by dynamo is described by the error inside."""
    error = getattr(error, "inner_exception", None) or error
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    first = first if len(first) <= 160 else first[:157] + "..."
    name = type(error).__name__
    return f"{name}: {first}" if first and not first.startswith(name) else first or name


class Objective:
    """One objective (an ``nn.Module`` returning a dict of losses with a ``total``), eager and
    compiled; ``CompiledStep.run`` picks which runs."""

    def __init__(self, module: nn.Module | Callable, compiled: Callable | None):
        self.eager = module
        self.compiled = compiled


class CompiledStep:
    """Compiles the trainer's objectives, runs them with an eager fallback, and marks where each
    step begins for CUDA graphs.

    ``seconds`` is the wall time of the first step (nearly all of it compilation), once known;
    ``failure`` the error that turned compiling off, if one did (``on_failure`` hears of it once).
    """

    def __init__(self, device: torch.device, enabled: bool,
                 on_failure: Callable[[BaseException], None] | None = None, buffers: Sequence[torch.Tensor] = ()):
        self.enabled = enabled
        self.device = device
        self.cuda_graphs = enabled and device.type == "cuda"
        # What a failed attempt could have changed besides gradients, to put back before the redo: the
        # buffers an objective updates in place (copied in one kernel a call) and the random streams.
        self._buffers = list(buffers) if enabled else []
        self._saved_buffers = [b.clone() for b in self._buffers]
        self.seconds: float | None = None
        self.failure: BaseException | None = None
        self.on_failure = on_failure
        self._first_started: float | None = None

    def objective(self, module: nn.Module) -> Objective:
        if not self.enabled:
            return Objective(module, None)
        return Objective(module, torch.compile(
            module, fullgraph=True, backend=BACKEND,
            mode="reduce-overhead" if self.cuda_graphs and BACKEND == "inductor" else None))

    def run(self, objective: Objective, inputs: Sequence[torch.Tensor],
            forward_context: Callable[[], AbstractContextManager],
            backward: Callable[[dict[str, torch.Tensor]], None]) -> dict[str, torch.Tensor]:
        """``backward(objective(*inputs))`` with the forward inside ``forward_context()``, compiled
        while compiling works; a failure (in the forward or the backward, which AOTAutograd compiles
        at its first call) switches to the eager module for good and redoes this objective eagerly.
        ``backward`` must clear the gradients it accumulates into, so that the redo starts clean."""
        if self.enabled and objective.compiled is not None:
            rng = self._save_state()
            try:
                with forward_context():
                    outputs = objective.compiled(*inputs)
                backward(outputs)
                return outputs
            except Exception as error:  # noqa: BLE001 - any failure of the optional path falls back
                self._restore_state(rng)
                self._fall_back(error)
        with forward_context():
            outputs = objective.eager(*inputs)
        backward(outputs)
        return outputs

    def _save_state(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._buffers:
            with torch.no_grad():
                torch._foreach_copy_(self._saved_buffers, self._buffers)
        cuda = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        return torch.get_rng_state(), cuda

    def _restore_state(self, rng: tuple[torch.Tensor, torch.Tensor | None]) -> None:
        if self._buffers:
            with torch.no_grad():
                torch._foreach_copy_(self._buffers, self._saved_buffers)
        torch.set_rng_state(rng[0])
        if rng[1] is not None:
            torch.cuda.set_rng_state(rng[1], self.device)

    def _fall_back(self, error: BaseException) -> None:
        self.enabled = self.cuda_graphs = False
        self.seconds = None
        self.failure = error
        if self.on_failure is not None:
            self.on_failure(error)

    def begin(self) -> None:
        """Call at the start of every step: tells CUDA graphs that the previous step's outputs are done."""
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        if self.enabled and self._first_started is None:
            self._first_started = time.perf_counter()

    def end(self) -> None:
        if self.enabled and self.seconds is None and self._first_started is not None:
            self.seconds = time.perf_counter() - self._first_started
