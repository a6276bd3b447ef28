"""Real torch.distributed: two CPU processes over gloo, launched by torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from munit_cli import load_checkpoint
from munit_cli.train import TrainData, Trainer

from .conftest import tiny_train_config

REPO = Path(__file__).resolve().parents[1]


def _torchrun_workers(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(REPO / "tests" / "ddp_worker.py"), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_two_process_ddp_then_resume_on_one(shapes_root, tmp_path):
    out = tmp_path / "run"
    proc = _torchrun_workers(str(shapes_root), str(out), "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    # Every rank holds the same weights after training (gradients were averaged).
    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    # ... and they moved away from the initial ones.
    first = load_checkpoint(out / "checkpoints" / "step-00000002.safetensors").state_dict()
    assert any(not torch.equal(first[k], rank0[k]) for k in rank0)

    # One set of files, written by rank 0 alone.
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "latest.safetensors", "resume.safetensors", "step-00000002.safetensors", "step-00000003.safetensors"]
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    latest = load_checkpoint(out / "checkpoints" / "latest.safetensors").state_dict()
    assert all(torch.equal(latest[k], rank0[k]) for k in rank0)

    # The 2-process run resumes as a 1-process run.
    config = tiny_train_config(iterations=5, batch_size=1, checkpoint_every=2)
    data = TrainData.from_folder(shapes_root, "sketch", "paint", config)
    trainer = Trainer(config, data, out, ("sketch", "paint"), device="cpu", resume=True)
    assert trainer.step == 3 and trainer.samples_seen == 6  # 3 steps x batch 1 x 2 processes
    assert trainer.fit().step == 5
    assert load_checkpoint(out / "checkpoints" / "latest.safetensors").step == 5


def test_non_finite_loss_in_one_process_stops_every_process(shapes_root, tmp_path):
    """Rank 1 alone sees a NaN loss at step 3: both ranks stop there with a message, none waits
    for the other (the run would otherwise hang until the 300 s timeout), and step 2 is kept."""
    out = tmp_path / "run"
    proc = _torchrun_workers(str(shapes_root), str(out), "5", "nan-on-rank-1", cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "rank 1: non-finite loss at step 3: gen/" in output, output
    assert "rank 0: non-finite loss in another process by step 3" in output, output
    assert load_checkpoint(out / "checkpoints" / "latest.safetensors").step == 2
