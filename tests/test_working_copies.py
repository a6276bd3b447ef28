"""Low-precision working copies of the weights (precision.WorkingCopies): autocast's numbers, bit
for bit, with one copy kernel per objective in place of a cast per weight and one per gradient."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters
from torch.utils._python_dispatch import TorchDispatchMode

from munit_cli import compiling
from munit_cli.devices import choose_paths
from munit_cli.precision import DTYPES, WorkingCopies, wants_working_copies
from munit_cli.train import Trainer

from .conftest import tiny_train_config
from .test_compile import _batches


class CastCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.casts = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.casts += func.overloadpacket is torch.ops.aten._to_copy
        return func(*args, **(kwargs or {}))


def _trainer(working_copies: bool, precision: str = "bf16", **changes) -> Trainer:
    """A low-precision trainer on the CPU with the layer paths a GPU gets, and working copies as
    asked (on a GPU the trainer turns them on itself)."""
    torch.manual_seed(0)
    trainer = Trainer(tiny_train_config(precision=precision, ema_decay=0.99, **changes), None, "/nonexistent",
                      ("a", "b"), device="cpu")
    choose_paths(trainer.model, "cuda")
    trainer.working = WorkingCopies(trainer.model, DTYPES[precision], enabled=working_copies)
    return trainer


@pytest.mark.parametrize(("precision", "reuse_translations"), [("bf16", True), ("bf16", False), ("fp16", True)])
def test_working_copies_give_autocasts_numbers_with_fewer_casts(precision, reuse_translations):
    """fp16 also runs the gradient scaler, which unscales and checks the masters' gradients."""
    copies = _trainer(True, precision, reuse_translations=reuse_translations)
    plain = _trainer(False, precision, reuse_translations=reuse_translations)
    assert copies.working.enabled and not plain.working.enabled
    for step, (x_a, x_b) in enumerate(_batches(3)):
        torch.manual_seed(step)  # the same random styles for both
        with CastCounter() as with_copies:
            got = copies.train_step(x_a, x_b)
        torch.manual_seed(step)
        with CastCounter() as with_autocast:
            want = plain.train_step(x_a, x_b)
        for name in want:
            assert torch.equal(got[name], want[name]), f"step {step}: {name}"
        # Each weight's cast, and its gradient's, is gone: far more than the copy kernels that replace them.
        assert with_copies.casts < with_autocast.casts - len(copies.working.masters)

    # Same float32 masters, moments and EMA; the modules hold the masters again between steps.
    for (name, got), want in zip(copies.model.state_dict().items(), plain.model.state_dict().values()):
        assert got.dtype == torch.float32 and torch.equal(got, want), name
    for got, want in zip(copies.ema.values(), plain.ema.values()):
        assert torch.equal(got, want)
    assert copies.scaler.get_scale() == plain.scaler.get_scale()  # fp16: the same steps taken or skipped
    for opt in ("opt_gen", "opt_dis"):
        for got, want in zip(getattr(copies, opt).state.values(), getattr(plain, opt).state.values()):
            assert all(torch.equal(got[k], want[k]) for k in want)
    registered = {id(p) for p in copies.model.parameters()}
    assert all(id(m) in registered for m in copies.working.masters)
    assert not any(id(w) in registered for w in copies.working.working)


def test_where_working_copies_are_used():
    assert wants_working_copies(torch.device("cuda", 0), distributed=False)
    assert not wants_working_copies(torch.device("cuda", 0), distributed=True)  # DDP watches the masters
    assert not wants_working_copies(torch.device("cpu"), distributed=False)
    torch.manual_seed(0)
    bf16_on_cpu = Trainer(tiny_train_config(precision="bf16"), None, "/nonexistent", ("a", "b"), device="cpu")
    assert not bf16_on_cpu.working.enabled
    float32 = WorkingCopies(bf16_on_cpu.model, torch.float32, enabled=True)  # nothing to copy in float32
    assert not float32.enabled and float32.working == []


def test_compiled_step_with_working_copies_is_two_graphs_that_never_recompile(monkeypatch):
    """Swapping the copies in and out of the modules at every objective must not make dynamo retrace."""
    monkeypatch.setattr(compiling, "BACKEND", "aot_eager")
    torch._dynamo.reset()
    counters.clear()
    compiled = _trainer(True, compile=True)
    eager = _trainer(True)
    batches = _batches(5)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for step, (x_a, x_b) in enumerate(batches):
            torch.manual_seed(step)
            got = compiled.train_step(x_a, x_b)
            torch.manual_seed(step)
            want = eager.train_step(x_a, x_b)
            # The graph regroups bf16 arithmetic: agreement to a few bf16 roundings (2**-8 relative).
            for name in want:
                torch.testing.assert_close(got[name], want[name], rtol=2e-2, atol=2e-3, msg=name)
    assert counters["stats"]["unique_graphs"] == 2
    assert dict(counters["graph_break"]) == {}
    assert dict(counters["recompiles"]) == {}
