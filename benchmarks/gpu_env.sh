# Sourced by the gpu_*.sh scripts, run from the repository root: OUT_DIR from
# $1 (else $OUT, else benchmarks/results/raw), unbuffered Python, wheels from
# .whl/ installed into /tmp/site (packages a GPU image lacks: ml_collections
# for the benchmarks, soundfile and cffi for train.py; benchmarks/README.md,
# "Running on a lent GPU", has the pip download command), and the device
# and package versions written to OUT_DIR/device.txt. The working tree comes
# first on PYTHONPATH, so the package measured is always this checkout's,
# never a copy installed from a wheel. ``run NAME SCRIPT ARGS...`` runs one
# benchmark under ``timeout ${T:-150}`` (cut to the budget left), appending
# its JSON rows to OUT_DIR/NAME.jsonl and its stderr, with a start and an
# exit line per command, to OUT_DIR/stderr.log; B is benchmarks/.
OUT_DIR=${1:-${OUT:-benchmarks/results/raw}}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
# Without ml_collections every command would fail at import, one by one.
python3 -c "import ml_collections" 2>/dev/null || {
  echo "error: ml_collections is missing: make .whl/ and carry it (benchmarks/README.md," \
       "\"Running on a lent GPU\")" | tee -a "$OUT_DIR/stderr.log" >&2; exit 1; }
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
  python3 -c "import jax, flax, optax; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())"
} 2>&1 | tee "$OUT_DIR/device.txt"

# The whole script's budget in seconds from its start (BUDGET; the device
# call gets 600 s): each command's limit is cut to what is left, and a
# command with under 20 s left is skipped, so the files written so far come
# back instead of the call being killed.
SUITE_BUDGET=${BUDGET:-560}
run() {  # run NAME SCRIPT ARGS...: one benchmark invocation, rows appended to NAME.jsonl
  local name=$1; shift
  local left=$(( SUITE_BUDGET - SECONDS )) limit=${T:-150}
  if (( left < 20 )); then
    echo "# $name: skipped at ${SECONDS} s (budget ${SUITE_BUDGET} s): $*" | tee -a "$OUT_DIR/stderr.log" >&2
    return 0
  fi
  (( limit > left )) && limit=$left
  echo "# $name at ${SECONDS} s, limit ${limit} s: $*" | tee -a "$OUT_DIR/stderr.log" >&2
  timeout "$limit" python3 "$@" 2>>"$OUT_DIR/stderr.log" | tee -a "$OUT_DIR/$name.jsonl"
  echo "# $name: exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$OUT_DIR/stderr.log" >&2
}
B=benchmarks
