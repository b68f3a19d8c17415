#!/usr/bin/env bash
# The GPU benchmarks of benchmarks/README.md in one go (300 s on an H200):
# training speed of the paper model (fp32, bf16 at several batch sizes, both
# sample_l1 forms) and of tiny, then generation speed (the paper's 300 clips x
# 5 s and batches 1 and 15), each setting one JSON line; last, a profiled
# training step and its ten most expensive operations (profile_train.jsonl).
#
#   bash benchmarks/gpu_suite.sh [OUT_DIR]     # default benchmarks/results/raw
#
# Rows go to OUT_DIR/train.jsonl and OUT_DIR/sample.jsonl, the device and
# package versions to OUT_DIR/device.txt, stderr to OUT_DIR/stderr.log. Each
# command has its own time limit (T seconds, default 150), so one slow or
# failing setting does not cost the others.  Wheels in .whl/ (e.g.
# ml_collections, absent from some GPU images) are installed first.
set -u
source "$(dirname "$0")/gpu_env.sh"

run() {  # run NAME SCRIPT ARGS...: one benchmark invocation, rows appended to NAME.jsonl
  local name=$1; shift
  echo "# $*" >&2
  timeout "${T:-150}" python3 "$@" 2>>"$OUT_DIR/stderr.log" | tee -a "$OUT_DIR/$name.jsonl"
}
B=benchmarks
run train $B/train_speed.py --configs paper --batch_sizes 128 --dtype float32
run train $B/train_speed.py --configs paper --batch_sizes 128,512,1024 --dtype bfloat16
run train $B/train_speed.py --configs paper --batch_sizes 512 --dtype bfloat16 --sample_l1 table
run sample $B/sample_speed.py --configs paper --batches 1,15,300 --seconds 5
run sample $B/sample_speed.py --configs paper --batches 300 --seconds 5 --dtype bfloat16
run train $B/train_speed.py --configs tiny --batch_sizes 128,1024
run sample $B/sample_speed.py --configs tiny --batches 1,300 --seconds 5
# Issue 17's first step: where the paper model's bf16 step spends its time
# (the profiled row is slower than the rows above, so it gets its own file).
run train_profiled $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --profile "$OUT_DIR/profile_train"
run profile_train $B/profile_table.py --trace_dir "$OUT_DIR/profile_train" --top 10
echo "# done" >&2
