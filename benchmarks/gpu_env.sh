# Sourced by the gpu_*.sh scripts, run from the repository root: OUT_DIR from
# $1 (else $OUT, else benchmarks/results/raw), unbuffered Python, wheels from
# .whl/ installed into /tmp/site (packages a GPU image lacks: ml_collections
# for the benchmarks, soundfile and cffi for train.py; benchmarks/README.md,
# "Running on a lent GPU", has the pip download command), and the device
# and package versions written to OUT_DIR/device.txt. The working tree comes
# first on PYTHONPATH, so the package measured is always this checkout's,
# never a copy installed from a wheel. ``run NAME SCRIPT ARGS...`` runs one
# benchmark under ``timeout ${T:-150}``, appending its JSON rows to
# OUT_DIR/NAME.jsonl and its stderr to OUT_DIR/stderr.log; B is benchmarks/.
OUT_DIR=${1:-${OUT:-benchmarks/results/raw}}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
  python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
} 2>&1 | tee "$OUT_DIR/device.txt"

run() {  # run NAME SCRIPT ARGS...: one benchmark invocation, rows appended to NAME.jsonl
  local name=$1; shift
  echo "# $*" >&2
  timeout "${T:-150}" python3 "$@" 2>>"$OUT_DIR/stderr.log" | tee -a "$OUT_DIR/$name.jsonl"
}
B=benchmarks
