#!/usr/bin/env bash
# The GPU benchmarks of benchmarks/README.md in one go (about 9-10 minutes on
# an H200 by estimate, not yet timed whole), issue 17's comparisons first, each in one run: the paper model's bf16
# training step at batch 1024 with the bf16 backward ('dtype') and the loss's
# written-out gradient ('vjp') against the pre-2026-11-30 autodiff of each
# (four rows), then with the other sample_l1 forms
# (table_pallas last: a Triton compile failure ends only its own row); generation
# of one stream and of 300 clips (2 s each, to leave time) with the innermost
# scan unrolled 1 and 16 times, each with the draws' noise and log-probs batched
# per frame (the library's since 2026-11-30) and inside every sample step (the
# sampler before; eight rows), and the same two (unroll 16, batched draws)
# with XLA's while-loop command buffers (CUDA graphs); then a profiled training step and a
# profiled generated stream with their ten most expensive operations
# (profile_train.jsonl, profile_sample.jsonl), the paper's batch of 128 with
# the RNN scans unrolled 1 and 8 times, without and with command buffers,
# then the rows repeating
# 2026-11-26's settings (fp32 at the paper's batch 128, 300 clips in bf16),
# and last, if time is left, the sampler's operations per sample
# (sampler_ops.jsonl).
# Each setting one JSON line.
#
#   bash benchmarks/gpu_suite.sh [OUT_DIR]     # default benchmarks/results/raw
#
# On a lent machine (benchmarks/README.md, "Running on a lent GPU"): make
# .whl/ here first, carry it, and give the call its 600 s.
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
T=200 run train $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --grad_matmuls dtype --grad_matmuls autodiff --loss_grad vjp --loss_grad autodiff
T=200 run train $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --sample_l1 table --sample_l1 table_mm --sample_l1 table_pallas
T=240 run sample $B/sample_speed.py --configs paper --batches 1,300 --seconds 2 --unroll 1 --unroll 16 \
    --draws frame --draws sample
XLA_FLAGS="--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL" T=120 \
    run sample_command_buffers $B/sample_speed.py --configs paper --batches 1,300 --seconds 2 \
    --baseline_seconds 0 --unroll 16
# Issue 17's first step: where the paper model's bf16 step spends its time
# (the profiled row is slower than the rows above, so it gets its own file).
run train_profiled $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --profile "$OUT_DIR/profile_train"
run profile_train $B/profile_table.py --trace_dir "$OUT_DIR/profile_train" --top 10
# ... and where one generated stream spends it (3 200 samples in 5 blocks).
run sample_profiled $B/sample_speed.py --configs paper --batches 1 --seconds 0.2 \
    --baseline_seconds 0 --profile "$OUT_DIR/profile_sample"
run profile_sample $B/profile_table.py --trace_dir "$OUT_DIR/profile_sample" --top 10
# The frame tiers' RNN scans at the paper's batch, where their 6 x 64 loop
# trips a step weigh most: unrolled 8 frames a trip, and with command buffers.
T=120 run train $B/train_speed.py --configs paper --batch_sizes 128 --dtype bfloat16 \
    --rnn_unroll 1 --rnn_unroll 8
XLA_FLAGS="--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL" T=90 \
    run train_command_buffers $B/train_speed.py --configs paper --batch_sizes 128 \
    --dtype bfloat16 --rnn_unroll 1 --rnn_unroll 8
# Last, the rows that repeat 2026-11-26's settings (a call near its 600 s
# limit loses these first): the paper's batch in float32, 300 clips in bf16.
run train $B/train_speed.py --configs paper --batch_sizes 128 --dtype float32
run sample $B/sample_speed.py --configs paper --batches 300 --seconds 5 --dtype bfloat16
# If time is left: the compiled sampler's operations (kernels) per sample,
# both draw forms, unroll 1 and 16 (compiles only; nothing is timed).
T=90 run sampler_ops $B/sampler_ops.py --configs paper --unroll 1 --unroll 16
echo "# done" >&2
