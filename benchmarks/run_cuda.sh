#!/usr/bin/env bash
# Every CUDA figure in the README, in one run on one GPU (written for a 10-minute lease):
#
#     bash benchmarks/run_cuda.sh OUT_DIR
#
# Correctness first (the `cuda` tests and the kernel table, side by side: neither is a timing), then
# the timings alone on the GPU. Each part has its own time limit so a slow one cannot hide the rest.
set -u
out=${1:-.}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=/tmp/munit-inductor-cache
py=python3

# The `munit` entry point the process tests run (no registry there: no dependencies fetched).
$py -m pip install -q --no-deps --no-build-isolation -e . >"$out/install.log" 2>&1
if [ ! -x "$(dirname "$(command -v $py)")/munit" ]; then  # a read-only interpreter: a venv beside it
    python3 -m venv --system-site-packages /tmp/munit-venv >>"$out/install.log" 2>&1
    py=/tmp/munit-venv/bin/python3
    $py -m pip install -q --no-deps --no-build-isolation -e . >>"$out/install.log" 2>&1 || echo "install failed (install.log)"
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
  date -u +%F; } | tee "$out/gpu.txt"

timeout 150 $py -m pytest -m cuda tests/test_cuda.py -q -p no:cacheprovider >"$out/pytest_cuda.txt" 2>&1 &
tests=$!
timeout 150 $py benchmarks/kernel_table.py --variants ours-bf16 ours-bf16-channels-last --batch 8 \
    >"$out/results_kernel_table_cuda.txt" 2>&1
wait $tests; echo "pytest -m cuda: exit $?"; tail -5 "$out/pytest_cuda.txt"

timeout 60 $py benchmarks/translate.py --device cuda --rounds 30 --warmup 3 2>&1 | tee "$out/results_translate_cuda.txt"
timeout 250 $py benchmarks/train_step.py --device cuda --sizes 256 --batches 1 8 --iters 20 --warmup 3 \
    --variants released-fp32 ours-fp32 ours-bf16 ours-bf16-channels-last ours-bf16-compile \
    2>&1 | tee "$out/results_train_step_cuda.txt"
