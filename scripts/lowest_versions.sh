#!/usr/bin/env bash
# The test suite with every dependency at the lower bound pyproject.toml
# names (uv's --resolution lowest-direct), in a virtual environment of its
# own: what a user with an older JAX, Flax or numpy already installed gets.
# Run it after changing a bound or using a newer API; CI runs the suite at
# constraints.txt's versions only.
#
#   bash scripts/lowest_versions.sh [VENV_DIR [pytest args...]]
#
# VENV_DIR (a new folder, or one this script made) defaults to
# /tmp/samplernn_lowest; the pytest args, relative to the checkout, to tests.
#
# Needs uv (pip install uv) and the package index; about 7 minutes on two
# cores after the download. The versions installed are printed first.
set -euo pipefail
venv="$(realpath -m "${1:-/tmp/samplernn_lowest}")"  # before the cd: relative to the caller
shift || true
cd "$(dirname "$0")/.."
command -v uv >/dev/null || { echo "error: uv not found (pip install uv)" >&2; exit 2; }
# only a folder this script made is synced down (an environment of yours would lose packages)
if [ -e "$venv" ] && [ ! -e "$venv/lowest.txt" ]; then
  echo "error: $venv exists and was not made by this script; name a new folder" >&2
  exit 2
fi
[ -x "$venv/bin/python" ] || uv venv -q -p python3.11 "$venv"
# compiled, then synced: a package the venv already holds at a newer version
# is taken down to its bound, one the bounds do not need is removed
uv pip compile -q pyproject.toml --extra dev --resolution lowest-direct \
  -p "$venv/bin/python" -o "$venv/lowest.txt"
VIRTUAL_ENV="$venv" uv pip sync -q "$venv/lowest.txt"
VIRTUAL_ENV="$venv" uv pip install -q --no-deps -e .
VIRTUAL_ENV="$venv" uv pip list 2>/dev/null | grep -iE \
  '^(jax|jaxlib|flax|optax|orbax-checkpoint|numpy|scipy|matplotlib|soundfile|ml-collections|absl-py|tqdm|tensorboardx|pytest|pytest-xdist) '
if [ "$#" -eq 0 ]; then set -- tests; fi
"$venv/bin/python" -m pytest -q "$@"
