"""Operators per training step as the trainer sets it up for one CUDA device, counted on the CPU:
a GPU at small batches is bound by kernel launches, so this count is the step's cost there.
The count is benchmarks/op_count.py's, which prints it for the default model beside the released
recipe.

The count depends on the layer structure, not on the widths or the image size: a narrow model
with the default structure counts what the default model counts, in a fraction of the time.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from munit_cli.config import RELEASED, ModelConfig

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from op_count import count  # noqa: E402

TARGET = 1500  # issue #12: at most 1,500 compute operators per iteration in fp32 and in bf16


@pytest.mark.parametrize("variant", ["ours-fp32", "ours-bf16-cuda-padding"])
def test_the_cuda_step_launches_at_most_1500_operators_and_never_syncs(variant):
    # The released model's structure (the default's spectral norm adds a power iteration per
    # convolution and call: benchmarks/op_count.py counts it apart).
    narrow = dataclasses.replace(RELEASED.model, gen_dim=8, mlp_dim=16, dis_dim=8)
    widths = {"gen_dim", "mlp_dim", "dis_dim"}
    assert {f.name for f in dataclasses.fields(ModelConfig)
            if getattr(narrow, f.name) != getattr(RELEASED.model, f.name)} == widths
    counter = count(variant, 64, gpu_paths=True, model=narrow)  # bf16: padding as CUDA's autocast runs it
    operators = sum(counter.compute.values())
    assert counter.syncs == 0
    assert operators <= TARGET, f"{operators} operators per {variant} step (target {TARGET})"


def test_a_channels_last_step_writes_no_nchw_tensor():
    """`--channels-last` end to end: with the CUDA layer paths, every activation and gradient of a bf16
    step stays NHWC (the norms keep the layout, the losses' and the pooling's gradients too), so no
    operator converts layouts. Batch 2: at batch 1 a view as N*C channels would be free. Without
    spectral norm: its power iteration reads each discriminator weight as a matrix, an NCHW copy of
    the weight (48 such copies a step here, no activation or gradient among them)."""
    counter = count("ours-bf16-cuda-padding-channels-last", 64, gpu_paths=True,
                    model=dataclasses.replace(RELEASED.model, gen_dim=8, mlp_dim=16, dis_dim=8, n_res=1), batch=2)
    assert sum(counter.compute.values()) > 0
    assert not counter.nchw_written, f"operators that wrote NCHW tensors: {dict(counter.nchw_written)}"
