#!/usr/bin/env bash
# The GPU check, in one go: install, then benchmarks/gpu_check.py (throughput at 4k/16k/32k, a
# reduced configs/gpu/ sweep on a random model with Llama-3-8B's shapes on HF and vLLM), writing
# benchmarks/results/gpu_check.json. Sized for 10 minutes on one H100, the install included.
#
#   bash benchmarks/gpu_check.sh             # on a GPU machine, from the repository root or not
#   bash benchmarks/gpu_check.sh --dry-run   # CPU, tiny shapes: checks the script (CI runs this)
#
# The install goes into .venv-gpu (a fresh virtual environment: the CUDA builds of torch and vLLM
# must not replace a CPU development environment); --dry-run uses the Python already active.
# Other arguments go to gpu_check.py (--no-vllm, --out FILE, --work DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

dry=0
for arg in "$@"; do [[ "$arg" == "--dry-run" ]] && dry=1; done
start=$SECONDS

if [[ $dry == 0 ]]; then
  echo "== install (.venv-gpu: the package with vLLM's CUDA build)"
  if [[ ! -x .venv-gpu/bin/python ]]; then
    python3 -m venv .venv-gpu
  fi
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  .venv-gpu/bin/pip install -q -e ".[vllm]"
  PYTHON=.venv-gpu/bin/python
  export PATH="$PWD/.venv-gpu/bin:$PATH"
  echo "   install took $((SECONDS - start)) s"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
  PYTHON=${PYTHON:-python}
  # Tiny shapes on two CPU cores: keep the threads from fighting each other and other work.
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
  export CUDA_VISIBLE_DEVICES=""
fi

"$PYTHON" benchmarks/gpu_check.py "$@"
echo "== gpu_check took $((SECONDS - start)) s in all"
