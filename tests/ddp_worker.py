"""Run by test_distributed.py under torchrun: train a few steps, then dump this rank's weights.

Arguments: data root, run folder, iterations, and optionally ``nan-on-rank-1``: rank 1 alone then
gets non-finite images at step 3, and each rank prints the error it stops with and exits 3.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from munit_cli.callbacks import MetricsLogger
from munit_cli.errors import TrainingError
from munit_cli.train import TrainData, Trainer
from tests.conftest import tiny_train_config

root, out, iterations = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
config = tiny_train_config(iterations=iterations, batch_size=1, checkpoint_every=2)
data = TrainData.from_folder(root, "sketch", "paint", config)
trainer = Trainer(config, data, out, ("sketch", "paint"), device="cpu", callbacks=[MetricsLogger(out)])
rank = trainer.dist.rank
assert trainer.dist.world_size == 2 and dist.is_initialized()
if sys.argv[4:] == ["nan-on-rank-1"] and rank == 1:
    healthy_step = trainer.train_step

    def poisoned_step(x_a, x_b):
        if trainer.step == 2:
            x_a = torch.full_like(x_a, float("nan"))
        return healthy_step(x_a, x_b)

    trainer.train_step = poisoned_step
try:
    trainer.fit()
except TrainingError as e:
    print(f"rank {rank}: {e}", flush=True)
    sys.exit(3)
weights = {k: v.contiguous() for k, v in trainer.model.state_dict().items()}
save_file(weights, str(out.parent / f"rank{rank}.safetensors"))
