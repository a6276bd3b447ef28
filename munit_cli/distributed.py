"""torch.distributed set-up and tear-down. Nothing else in the package reads rank variables.

``torchrun`` sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous variables; a plain run has none
of them and is a world of one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_rank() -> int | None:
    """This process's index on its machine under torchrun (its GPU); None when not launched by it."""
    return int(os.environ.get("LOCAL_RANK", 0)) if launched_by_torchrun() else None


def is_main_process() -> bool:
    """Rank 0 (or not distributed): the process that prints and writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def setup(use_nccl: bool) -> DistContext:
    """Join the process group when launched by torchrun (NCCL for GPUs, gloo for CPUs)."""
    if not launched_by_torchrun():
        return DistContext()
    ctx = DistContext(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_nccl else "gloo")
    return ctx


def teardown(wait_for_others: bool = True) -> None:
    """Leave the process group; after an error, don't wait at a barrier the others may never reach."""
    if dist.is_initialized():
        if wait_for_others:
            dist.barrier()
        dist.destroy_process_group()


def any_rank(flag: bool, ctx: DistContext, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any rank (so all ranks stop at the same step)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
