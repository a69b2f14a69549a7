#!/usr/bin/env bash
# The GPU checks of the shared kernels, in one pass, for a machine with CUDA where device time is scarce:
#   1. the CUDA tests of the Triton kernels (compiled for the card, not interpreted),
#   2. the GPU section of each benchmark (bench_scan, bench_entmax, bench_flow with --gpu-only),
#   3. a short training run of a package that routes through the kernels (ssmsurvey, Mamba and Mamba-2).
# Each step writes its own log, has its own time limit, and a failure does not stop the next step.
#
#   shared/bench/gpu.sh [LOGDIR]        # default LOGDIR: gpu-logs
#
# It runs with the environment's python3 and the workspace's sources on PYTHONPATH (no install needed),
# so it also works on a bare image with torch, triton and lightning; set PYTHON to use another interpreter.
# On an H100 (2026-11-27) the steps took 145 s (tests, mostly Triton compiles), 34 s, about 110 s (adasplash
# autotunes for a minute), about 120 s, 22 s and 20 s; the limits below are per step.
set -u
out=${1:-gpu-logs}
mkdir -p "$out"
py=${PYTHON:-python3}
root=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$root/shared/src:$root/packages/ssmsurvey/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
cd "$root"

step() {  # step NAME LIMIT_S CMD...: run CMD with a limit, log to $out/NAME.txt, report its status and time
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    echo "== $name: $*"
    timeout "$limit" "$@" >"$out/$name.txt" 2>&1
    local rc=$?
    tail -n 40 "$out/$name.txt"
    echo "== $name: exit $rc after $((SECONDS - t0)) s"
}

{
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
    "$py" -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
} >"$out/env.txt" 2>&1
cat "$out/env.txt"

step tests 200 "$py" -m pytest -p no:cacheprovider -q -m "not slow" -k "cuda or gpu" -rs \
    shared/tests/test_selective_scan.py shared/tests/test_ssd_scan.py \
    shared/tests/test_entmax_triton.py shared/tests/test_flow_triton.py
step bench_scan 120 "$py" shared/bench/bench_scan.py --gpu-only
step bench_entmax 150 "$py" shared/bench/bench_entmax.py --gpu-only
step bench_flow 150 "$py" shared/bench/bench_flow.py --gpu-only
for mixer in mamba mamba2; do
    step "fit_$mixer" 60 "$py" -c "from paperzoo.ssmsurvey.cli import main; main()" fit \
        --config packages/ssmsurvey/configs/tiny.yaml --trainer.accelerator gpu --model.mixer "$mixer" \
        --trainer.enable_progress_bar false --trainer.max_steps 200
done
