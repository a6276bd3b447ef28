#!/usr/bin/env bash
# Multi-GPU and multi-host training with torchrun (DistributedDataParallel, NCCL).
# Each process trains on its own shard of both domains; the global batch is
# (number of processes) x --batch-size. Only rank 0 writes checkpoints, samples and logs.
set -euo pipefail

# One machine, all its GPUs:
torchrun --nproc_per_node gpu -m munit_cli train ./afhq --source dog --target cat \
    --out runs/dog2cat --precision bf16

# Two machines with 8 GPUs each (run the same command on both; HOST is the first machine):
# torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 --rdzv-id dog2cat \
#     -m munit_cli train ./afhq --source dog --target cat --out runs/dog2cat --precision bf16

# Resume on any number of processes, e.g. one GPU:
# munit train --out runs/dog2cat --resume
