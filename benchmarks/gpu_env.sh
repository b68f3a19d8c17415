# Sourced by the gpu_*.sh scripts, run from the repository root: OUT_DIR from
# $1 (else $OUT, else benchmarks/results/raw), unbuffered Python, wheels from
# .whl/ installed into /tmp/site (packages a GPU image lacks: ml_collections
# for the benchmarks, soundfile and cffi for train.py; benchmarks/README.md,
# "Running on a lent GPU", has the pip download command), and the device,
# the package versions and the commit (GIT_HEAD, given by the caller: a
# lent machine's copy has no .git) written to OUT_DIR/<P>device.txt. The
# working tree comes first on PYTHONPATH, so the package measured is always
# this checkout's, never a copy installed from a wheel. JAX on the CPU stops
# the script at once (a GPU that failed to start: JAX falls back to the CPU,
# and every command would run there until its limit), unless JAX_PLATFORMS
# is cpu (a dry run). ``run NAME SCRIPT
# ARGS...`` runs one benchmark under ``timeout ${T:-150}`` (cut to the
# budget left), appending its JSON rows to OUT_DIR/<P>NAME.jsonl and its
# stderr, with a start and an exit line per command, to OUT_DIR/<P>stderr.log;
# B is benchmarks/. P is SUITE_PREFIX (gpu_suite_more.sh's "more_"), so a
# second call's files do not replace the first's.
OUT_DIR=${1:-${OUT:-benchmarks/results/raw}}
P=${SUITE_PREFIX:-}
LOG="$OUT_DIR/${P}stderr.log"
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# One wheel at a time (pip installs a list all or nothing: one wheel for
# another Python would leave even ml_collections out), ml_collections first.
for whl in $(ls .whl/ml_collections-*.whl 2>/dev/null) $(ls .whl/*.whl 2>/dev/null | grep -v /ml_collections-); do
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site "$whl" 2>>"$LOG" || echo "# could not install $whl" | tee -a "$LOG" >&2
done
[ -d /tmp/site ] && export PYTHONPATH="$PYTHONPATH:/tmp/site"
# Without ml_collections every command would fail at import, one by one.
python3 -c "import ml_collections" 2>/dev/null || {
  echo "error: ml_collections is missing: make .whl/ and carry it (benchmarks/README.md," \
       "\"Running on a lent GPU\"; pip's own error, if any, is above in this log)" | tee -a "$LOG" >&2; exit 1; }
{ echo "commit ${GIT_HEAD:-unknown (pass GIT_HEAD=<hash>)}"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
  timeout -k 10 90 python3 -c "
import os, sys, jax, flax, optax
print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, jax.devices())
dry_run = os.environ.get('JAX_PLATFORMS') == 'cpu'  # asked for: a run of the scripts on a CPU
sys.exit(0 if jax.default_backend() != 'cpu' or dry_run else 'JAX fell back to the CPU')"
} 2>&1 | tee "$OUT_DIR/${P}device.txt"
(( PIPESTATUS[0] == 0 )) || {
  echo "error: JAX did not start on the GPU (${P}device.txt says why; JAX_PLATFORMS=cpu for" \
    "a dry run on a CPU)" | tee -a "$LOG" >&2; exit 1; }

# The whole script's budget in seconds from its start (BUDGET, default 560
# for a device call of 600 s; a call given less, pass BUDGET=<its limit - 40>):
# each command's limit is cut to what is left, and a command with under 20 s
# left is skipped, so the files written so far come back instead of the call
# being killed.
SUITE_BUDGET=${BUDGET:-560}
run() {  # run NAME SCRIPT ARGS...: one benchmark invocation, rows appended to NAME.jsonl
  local name=$1; shift
  local left=$(( SUITE_BUDGET - SECONDS )) limit=${T:-150}
  if (( left < 20 )); then
    echo "# $name: skipped at ${SECONDS} s (budget ${SUITE_BUDGET} s): $*" | tee -a "$LOG" >&2
    return 0
  fi
  (( limit > left )) && limit=$left
  echo "# $name at ${SECONDS} s, limit ${limit} s: $*" | tee -a "$LOG" >&2
  timeout -k 10 "$limit" python3 "$@" 2>>"$LOG" | tee -a "$OUT_DIR/$P$name.jsonl"
  echo "# $name: exit ${PIPESTATUS[0]} at ${SECONDS} s" | tee -a "$LOG" >&2
}
B=benchmarks
