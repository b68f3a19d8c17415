#!/usr/bin/env bash
# .venv-gpu-compile: this Python environment (its site-packages, the package
# installed by requirements.txt) plus jax's CUDA plugin at the installed jax's
# version, so that train_kernels.py and sampler_ops.py --target h100|h200 can
# compile for a GPU on a machine without one (benchmarks/deviceless.py).
# About 0.5 GB; the NVIDIA libraries are not needed to compile. Run from the
# repository root, after pip install -r requirements.txt.
set -euo pipefail
V=$(python -c "import jax; print(jax.__version__)")
python -m venv --system-site-packages .venv-gpu-compile
.venv-gpu-compile/bin/pip install -q --no-deps "jax-cuda12-plugin==$V" "jax-cuda12-pjrt==$V"
.venv-gpu-compile/bin/python -c "
import sys; sys.path.insert(0, 'benchmarks')
import deviceless; print('compiles for', deviceless.devices('h200')[0].device_kind)"
