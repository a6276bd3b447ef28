#!/usr/bin/env bash
# Every CUDA figure in the README, on one GPU, in calls of under 10 minutes each:
#
#     bash benchmarks/run_cuda.sh OUT_DIR layout     # batch 8 compiled: NCHW, inductor's channels_last forced,
#                                                    # channels_last model (the open lever for batch 8; first)
#     bash benchmarks/run_cuda.sh OUT_DIR batch1     # translate, train step at batch 1, kernel table
#     bash benchmarks/run_cuda.sh OUT_DIR batch8     # train step at batch 8, eager and the fast convs compiled
#     bash benchmarks/run_cuda.sh OUT_DIR tests      # pytest -m cuda (the compiled training test compiles 3 times)
#     bash benchmarks/run_cuda.sh OUT_DIR train      # munit train on 6,000 generated 512x512 JPEGs at 256x256 vs. its bare
#                                                    # step (data loading, samples, logs: target <= 5% of the speed)
#
# Each part has its own time limit so a slow one cannot hide the rest; timings run alone on the GPU.
set -u
out=${1:-.}
part=${2:-batch1}
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
  git rev-parse --short HEAD 2>/dev/null; date -u +%F; } | tee "$out/gpu.txt"

case $part in
tests)
    timeout 540 $py -m pytest -m cuda tests/test_cuda.py -q -p no:cacheprovider 2>&1 | tee "$out/pytest_cuda.txt" ;;
batch1)
    timeout 60 $py benchmarks/translate.py --device cuda --rounds 30 --warmup 3 2>&1 | tee "$out/results_translate_cuda.txt"
    timeout 360 $py benchmarks/train_step.py --device cuda --sizes 256 --batches 1 --iters 20 --warmup 3 \
        --variants released-fp32 ours-fp32 ours-bf16 ours-bf16-channels-last ours-bf16-compile \
        ours-bf16-compile-fast-convs \
        2>&1 | tee "$out/results_train_step_cuda.txt"
    timeout 90 $py benchmarks/kernel_table.py --variants ours-bf16 ours-bf16-channels-last --batch 8 \
        2>&1 | tee "$out/results_kernel_table_cuda.txt" ;;
layout)  # the compiled step's layout conversions (benchmarks/layout_decision.py says why they are there)
    timeout 560 $py benchmarks/train_step.py --device cuda --sizes 256 --batches 8 --iters 15 --warmup 3 \
        --variants released-fp32 ours-bf16-compile ours-bf16-compile-layout-opt ours-bf16-channels-last-compile \
        2>&1 | tee "$out/results_train_step_cuda_layout.txt" ;;
batch8)
    timeout 540 $py benchmarks/train_step.py --device cuda --sizes 256 --batches 8 --iters 15 --warmup 3 \
        --variants released-fp32 ours-bf16 ours-bf16-channels-last ours-bf16-compile-fast-convs \
        2>&1 | tee "$out/results_train_step_cuda_batch8.txt" ;;
train)
    timeout 540 $py benchmarks/train_process.py --device cuda --images 3000 --iterations 400 \
        2>&1 | tee "$out/results_train_process_cuda.txt" ;;
*)
    echo "unknown part $part: layout, batch1, batch8, tests or train"; exit 2 ;;
esac
