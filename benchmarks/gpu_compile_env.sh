#!/usr/bin/env bash
# .venv-gpu-compile: this Python environment (its site-packages, the package
# installed by requirements.txt) plus jax's CUDA plugin at the installed jax's
# version, so that train_kernels.py and sampler_ops.py --target h100|h200 can
# compile for a GPU on a machine without one (benchmarks/deviceless.py).
# About 0.5 GB; the NVIDIA libraries are not needed to compile. Run from the
# repository root, after pip install -r requirements.txt.
set -euo pipefail
V=$(python -c "import jax; print(jax.__version__)")
python -m venv .venv-gpu-compile
# this environment's packages, their own .pth files (the editable install's)
# included: a .pth line that runs site.addsitedir (--system-site-packages
# would give the base interpreter's when this python is itself a venv's)
SITE=$(.venv-gpu-compile/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
python -c "import site; print('\n'.join(f'import site; site.addsitedir({d!r})'
                                          for d in site.getsitepackages()))" \
    > "$SITE/_gpu_compile_parent.pth"
.venv-gpu-compile/bin/pip install -q --no-deps "jax-cuda12-plugin==$V" "jax-cuda12-pjrt==$V"
.venv-gpu-compile/bin/python -c "
import sys; sys.path.insert(0, 'benchmarks')
import deviceless, samplernn_jax; print('compiles for', deviceless.devices('h200')[0].device_kind)"
