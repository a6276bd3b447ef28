"""What the PyTorch profiler sees over a few calls of a step: kernels, GPU time, layout conversions, syncs.

Shared by train_step.py (a summary line per variant) and kernel_table.py (the full table).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.profiler import ProfilerActivity, profile, record_function

# cuDNN's and ATen's kernels that only change memory layout (NCHW <-> NHWC).
LAYOUT_WORDS = ("nchwtonhwc", "nhwctonchw", "nchw2nhwc", "nhwc2nchw", "transpose", "convert_layout")
# Runtime calls that make the host wait for the GPU.
SYNC_CALLS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaMemcpy ", "cudaEventSynchronize")
STEP_MARK = "munit::step"  # a profiler range around each step


def is_layout_conversion(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in LAYOUT_WORDS)


@dataclass
class StepProfile:
    steps: int
    wall_s: float  # per step, under the profiler
    kernels: dict[str, list[float]] = field(default_factory=dict)  # name -> microseconds per call
    syncs: int = 0
    graph_launches: int = 0

    def per_step(self, n: float) -> float:
        return n / self.steps

    @property
    def launches(self) -> int:
        return sum(len(t) for t in self.kernels.values())

    @property
    def busy_us(self) -> float:
        return sum(sum(t) for t in self.kernels.values())

    def layout(self) -> dict[str, list[float]]:
        return {name: t for name, t in self.kernels.items() if is_layout_conversion(name)}

    def summary(self) -> dict[str, float]:
        layout = self.layout()
        return {"kernels_per_step": self.per_step(self.launches), "busy_ms": self.per_step(self.busy_us) / 1000,
                "wall_ms": self.wall_s * 1000, "layout_kernels": self.per_step(sum(len(t) for t in layout.values())),
                "layout_ms": self.per_step(sum(sum(t) for t in layout.values())) / 1000,
                "syncs": self.per_step(self.syncs), "graph_launches": self.per_step(self.graph_launches)}


def profile_steps(step: Callable[[], object], cuda: bool, steps: int) -> StepProfile:
    """Run ``step`` ``steps`` times under the profiler; on a CPU the top-level ATen operators stand in
    for kernels (a dry run of the same code). Host syncs are counted inside the steps only, not the
    synchronisation that closes the window."""
    def sync():
        if cuda:
            torch.cuda.synchronize()

    sync()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            with record_function(STEP_MARK):
                step()
        sync()
    result = StepProfile(steps, (time.perf_counter() - start) / steps)
    events = prof.events()
    marks = [(e.time_range.start, e.time_range.end) for e in events if e.name == STEP_MARK]
    kernels: dict[str, list[float]] = defaultdict(list)
    for event in events:
        if cuda and event.device_type == torch.autograd.DeviceType.CUDA:
            kernels[event.name].append(getattr(event, "device_time_total", None) or event.cuda_time_total)
        elif not cuda and event.name.startswith("aten::") and (
                event.cpu_parent is None or event.cpu_parent.name == STEP_MARK):  # top-level operators
            kernels[event.name].append(event.cpu_time_total)
        if event.name.startswith(SYNC_CALLS) and any(a <= event.time_range.start <= b for a, b in marks):
            result.syncs += 1
        if event.name.startswith("cudaGraphLaunch"):
            result.graph_launches += 1
    result.kernels = dict(kernels)
    return result
