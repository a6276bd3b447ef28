"""Run by test_distributed.py under torchrun: train a few steps, then dump this rank's weights."""

from __future__ import annotations

import sys
from pathlib import Path

import torch.distributed as dist
from safetensors.torch import save_file

from munit_cli.callbacks import MetricsLogger
from munit_cli.train import TrainData, Trainer
from tests.conftest import tiny_train_config

root, out, iterations = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
config = tiny_train_config(iterations=iterations, batch_size=1, checkpoint_every=2)
data = TrainData.from_folder(root, "sketch", "paint", config)
trainer = Trainer(config, data, out, ("sketch", "paint"), device="cpu", callbacks=[MetricsLogger(out)])
rank = trainer.dist.rank
assert trainer.dist.world_size == 2 and dist.is_initialized()
trainer.fit()
weights = {k: v.contiguous() for k, v in trainer.model.state_dict().items()}
save_file(weights, str(out.parent / f"rank{rank}.safetensors"))
