"""Operators launched per training iteration, and host syncs, counted with a TorchDispatchMode.

    python benchmarks/op_count.py [--size 64] [--only channels_last]

On a GPU every compute operator is (at least) one kernel launch, and at batch 1 the step is bound
by launches, not arithmetic; a host sync (``.item()``, ``bool(tensor)``) stalls the CPU until the
GPU catches up. Both can be counted on a CPU: every ATen call of one warm iteration (after two
warm-up ones) passes through the mode. Views (aliases of existing storage: view, slice, expand,
transpose, ...) launch nothing and are counted apart; syncs are reads of a device value into Python.

Rows: the released recipe (written with our modules, as in train_step.py), and the Trainer's step
in fp32 and bf16 as the trainer sets it up for one CUDA device (its layer paths, and in bf16 its
low-precision weight copies), and for the CPU. Default model, batch 1. The CPU's autocast runs
reflection padding in float32 where CUDA's leaves it in its input's dtype: the bf16 CUDA row counts
the step with padding as CUDA's autocast runs it, the row below it with the CPU's policy.

The channels_last row (``--channels-last``: model and inputs NHWC) also counts the operators that
wrote an NCHW tensor: each is a layout conversion, or makes one for the next convolution. What an
operator writes can differ by device (ATen's CUDA kernels are not the CPU's); this counts the CPU's.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).parent))
from train_step import released_iteration  # noqa: E402

from munit_cli.config import RELEASED, ModelConfig, TrainConfig  # noqa: E402
from munit_cli.devices import choose_paths, set_paths  # noqa: E402
from munit_cli.precision import DTYPES, WorkingCopies, wants_working_copies  # noqa: E402
from munit_cli.train import Trainer  # noqa: E402

SYNCS = {torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default,
         torch.ops.aten.equal.default}


# Reshapes that launch no kernel but whose result autograd does not track as a view.
NO_KERNEL = {torch.ops.aten._unsafe_view.default}


def is_view(func) -> bool:
    """An operator whose result aliases an input without writing it (no kernel runs)."""
    return func in NO_KERNEL or any(r.alias_info is not None and not r.alias_info.is_write
                                    for r in func._schema.returns)


def written_nchw(t: object) -> bool:
    """A 4-d tensor laid out NCHW and not also NHWC (which a single channel or pixel makes it)."""
    return (isinstance(t, torch.Tensor) and t.dim() == 4 and t.is_contiguous()
            and not t.is_contiguous(memory_format=torch.channels_last))


class OpCounter(TorchDispatchMode):
    def __init__(self, parameters: set[int] = frozenset()):
        super().__init__()
        self.compute: Counter[str] = Counter()
        self.views = 0
        self.syncs = 0
        self.parameters = parameters  # data pointers of the model's parameters
        self.weight_casts = 0  # dtype casts whose input is a parameter (autocast's weight copies)
        # Operators that wrote an NCHW tensor: in a channels_last step, each is a layout conversion
        # (on a GPU: a slow strided copy, or cuDNN converting the layout back for the next convolution).
        self.nchw_written: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in SYNCS:
            self.syncs += 1
        elif is_view(func):
            self.views += 1
        elif func.namespace == "profiler":  # record_function markers (some optimisers): no kernel
            pass
        else:
            name = str(func.overloadpacket).removeprefix("aten.")
            self.compute[name] += 1
            if func.overloadpacket is torch.ops.aten._to_copy and args[0].data_ptr() in self.parameters:
                self.weight_casts += 1
            out = func(*args, **(kwargs or {}))
            if any(written_nchw(t) for t in torch.utils._pytree.tree_leaves(out)):
                self.nchw_written[name] += 1
            return out
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def padding_as_cuda_autocasts():
    """Reflection padding in its input's dtype, as CUDA's autocast leaves it; the CPU's autocast runs
    it in float32, which costs a cast before each padded convolution (and one in its backward)."""
    original = F.pad

    def pad(x, padding, mode="constant", value=None):
        with torch.autocast("cpu", enabled=False):
            return original(x, padding, mode=mode, value=value)

    F.pad = pad
    try:
        yield
    finally:
        F.pad = original


def count(variant: str, size: int, gpu_paths: bool, model: ModelConfig | None = None, batch: int = 1) -> OpCounter:
    """One warm iteration of ``variant`` (the released model's sizes and structure unless ``model``), counted."""
    torch.manual_seed(0)
    precision = "bf16" if "bf16" in variant else "fp32"
    # The released loss weights keep the rows comparable with earlier counts; "-cycle" variants use
    # the default recipe's, whose explicit cycle loss adds two decodes (and their backward) a step.
    loss = TrainConfig().loss if "cycle" in variant else RELEASED.loss
    # Likewise the released model (no spectral norm), unless "default-model" (the default's).
    model = model or (ModelConfig() if "default-model" in variant else RELEASED.model)
    config = TrainConfig(model=model, loss=loss, image_size=size, batch_size=batch,
                         precision=precision, channels_last="channels-last" in variant)
    trainer = Trainer(config, None, "/nonexistent", ("a", "b"), device="cpu")
    if gpu_paths:  # what the trainer sets up on one CUDA device: its layer paths and weight copies
        choose_paths(trainer.model, "cuda")
        trainer.working = WorkingCopies(trainer.model, DTYPES[precision],
                                        enabled=wants_working_copies(torch.device("cuda"), distributed=False))
    x_a, x_b = (torch.rand(batch, 3, size, size) * 2 - 1 for _ in range(2))
    if config.channels_last:
        x_a, x_b = (x.contiguous(memory_format=torch.channels_last) for x in (x_a, x_b))
    if variant == "released":
        set_paths(trainer.model, fast_convs=False)  # upsample, then a 5x5 conv at full size
        step = lambda: released_iteration(trainer, x_a, x_b)  # noqa: E731
    else:
        step = lambda: trainer.train_step(x_a, x_b)  # noqa: E731
    padding = padding_as_cuda_autocasts() if "cuda-padding" in variant else contextlib.nullcontext()
    with padding:
        for _ in range(2):
            step()
        with OpCounter({p.data_ptr() for p in trainer.model.parameters()}) as counter:
            step()
    return counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--top", type=int, default=12, help="Most frequent operators listed per row.")
    parser.add_argument("--only", default="", help="Count only the rows whose name contains this.")
    args = parser.parse_args()
    print(f"torch {torch.__version__}; the released model's sizes (default recipe rows: with spectral norm), "
          f"batch 1, {args.size}x{args.size}; one warm iteration")
    print(f"{'variant':38} {'compute ops':>11} {'views':>7} {'syncs':>6} {'casts':>6} {'of weights':>10} "
          f"{'NCHW written':>12}")
    rows = [("released recipe, fp32", "released", False),
            ("ours, fp32, CUDA paths", "ours-fp32", True),
            ("ours, bf16, CUDA paths", "ours-bf16-cuda-padding", True),
            ("  same, CPU autocast's fp32 padding", "ours-bf16", True),
            ("  same, default loss (+ cycle loss)", "ours-bf16-cuda-padding-cycle", True),
            ("ours, fp32, CUDA paths, + cycle loss", "ours-fp32-cycle", True),
            ("ours, bf16, CUDA paths, default recipe", "ours-bf16-cuda-padding-cycle-default-model", True),
            ("ours, fp32, CUDA paths, default recipe", "ours-fp32-cycle-default-model", True),
            ("ours, bf16, CUDA paths, channels_last", "ours-bf16-cuda-padding-channels-last", True),
            ("ours, fp32, CPU paths", "ours-fp32", False), ("ours, bf16, CPU paths", "ours-bf16", False)]
    details = []
    for name, variant, gpu_paths in [row for row in rows if args.only in row[0]]:
        c = count(variant, args.size, gpu_paths)
        nchw = sum(c.nchw_written.values()) if "channels-last" in variant else "-"
        print(f"{name:38} {sum(c.compute.values()):11d} {c.views:7d} {c.syncs:6d} {c.compute['_to_copy']:6d} "
              f"{c.weight_casts:10d} {nchw:>12}", flush=True)
        details.append((name, c))
    for name, c in details:
        top = ", ".join(f"{op} {n}" for op, n in c.compute.most_common(args.top))
        print(f"\n{name}: {top}")


if __name__ == "__main__":
    main()
