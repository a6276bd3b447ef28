"""Operators per training step as the trainer sets it up for one CUDA device, counted on the CPU:
a GPU at small batches is bound by kernel launches, so this count is the step's cost there
(benchmarks/op_count.py prints it for the default model, with the released recipe beside it).

The count depends on the layer structure, not on the widths or the image size: a narrow model
with the default structure counts what the default model counts, in a fraction of the time.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from munit_cli.config import LossWeights, ModelConfig, TrainConfig
from munit_cli.devices import choose_paths
from munit_cli.precision import DTYPES, WorkingCopies, wants_working_copies
from munit_cli.train import Trainer

TARGET = 1500  # issue #12: at most 1,500 compute operators per iteration in fp32 and in bf16
SYNCS = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default,
         torch.ops.aten.equal.default}
NO_KERNEL = {torch.ops.aten._unsafe_view.default}  # a reshape autograd does not track as a view


class OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.compute = 0
        self.syncs = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        aliases = any(r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns)
        if func in SYNCS:
            self.syncs += 1
        elif not aliases and func not in NO_KERNEL and func.namespace != "profiler":
            self.compute += 1
        return func(*args, **(kwargs or {}))


def _pad_as_cuda_autocasts(original):
    """CUDA's autocast leaves reflection padding in its input's dtype; the CPU's runs it in float32
    (a cast around every padded convolution, which a GPU never launches)."""
    def pad(x, padding, mode="constant", value=None):
        with torch.autocast("cpu", enabled=False):
            return original(x, padding, mode=mode, value=value)
    return pad


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_cuda_step_launches_at_most_1500_operators_and_never_syncs(monkeypatch, precision):
    narrow = ModelConfig(gen_dim=8, mlp_dim=16, dis_dim=8)
    widths = {"gen_dim", "mlp_dim", "dis_dim"}
    assert {f.name for f in dataclasses.fields(ModelConfig)
            if getattr(narrow, f.name) != getattr(ModelConfig(), f.name)} == widths  # the default structure
    torch.manual_seed(0)
    config = TrainConfig(model=narrow, loss=LossWeights(), image_size=64, batch_size=1, precision=precision)
    trainer = Trainer(config, None, "/nonexistent", ("a", "b"), device="cpu")
    choose_paths(trainer.model, "cuda")  # what the trainer does on one CUDA device
    trainer.working = WorkingCopies(trainer.model, DTYPES[precision],
                                    enabled=wants_working_copies(torch.device("cuda"), distributed=False))
    monkeypatch.setattr(F, "pad", _pad_as_cuda_autocasts(F.pad))
    x_a, x_b = (torch.rand(1, 3, 64, 64) * 2 - 1 for _ in range(2))
    for _ in range(2):  # warm: optimiser state exists, nothing is created lazily any more
        trainer.train_step(x_a, x_b)
    with OpCounter() as counter:
        trainer.train_step(x_a, x_b)
    assert counter.syncs == 0
    assert counter.compute <= TARGET, f"{counter.compute} operators per {precision} step (target {TARGET})"
