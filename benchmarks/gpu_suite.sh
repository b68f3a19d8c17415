#!/usr/bin/env bash
# The GPU benchmarks of issue 17 in one call of at most 600 s (about 9.5
# minutes on an H200 by estimate, not yet timed whole), each comparison in
# one run: the paper model's bf16 training step at batch 1024 with the GRU
# scans' written-out gradient ('written') and the sample tier's bf16 ReLUs
# ('output') against autodiff of each (four rows; gpu_suite_more.sh has the
# bf16 backward matmuls and the loss's gradient), then with the other sample_l1
# forms (table_pallas last: a Triton compile failure ends only its own row);
# the GRU frame loops in XLA's kernels and in gru_pallas' (config.rnn_kernel)
# at the paper's batch of 128, scans unrolled 8 frames a trip;
# generation of one stream and of 300 clips (2 s each, to leave time) with
# the innermost scan unrolled 1 and 16 times (four rows; the draws inside
# every sample step, the form until 2026-11-30, are gpu_suite_more.sh's), one stream at unroll 16
# run as one row and as two (min_rows), and the same two (unroll 16,
# batched draws) with XLA's while-loop command buffers (CUDA graphs);
# last a profiled training step and a profiled generated stream with their
# ten most expensive operations. gpu_suite_more.sh has the rest, for a
# second call if device time is left. Each setting one JSON line.
#
#   bash benchmarks/gpu_suite.sh [OUT_DIR]     # default benchmarks/results/raw
#
# On a lent machine (benchmarks/README.md, "Running on a lent GPU"): make
# .whl/ here first, carry it, and give the call its 600 s.
#
# Rows go to OUT_DIR/<name>.jsonl (train, sample, sample_command_buffers,
# train_profiled, profile_train, sample_profiled, profile_sample), the
# device and package versions to OUT_DIR/device.txt, stderr to
# OUT_DIR/stderr.log. Each command has its own time limit (T seconds,
# default 150), so one slow or failing setting does not cost the others.
# Wheels in .whl/ (e.g. ml_collections, absent from some GPU images) are
# installed first.
set -u
source "$(dirname "$0")/gpu_env.sh"

T=200 run train $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --rnn_grad written --rnn_grad autodiff --relu_grad output --relu_grad autodiff
T=200 run train $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --sample_l1 table --sample_l1 table_mm --sample_l1 table_pallas
# Two Pallas kernels a frame each way instead of XLA's five to seven (compiled without
# a GPU: 2281 -> 1071 kernels a step, roofline 9.6 -> 7.4 ms).
T=150 run train $B/train_speed.py --configs paper --batch_sizes 128 --dtype bfloat16 \
    --rnn_unroll 8 --rnn_kernel xla --rnn_kernel pallas
T=180 run sample $B/sample_speed.py --configs paper --batches 1,300 --seconds 2 --unroll 1 --unroll 16
# One stream run as two rows (sampling.generate's min_rows): matrix-multiply
# kernels instead of a multiply and a reduction per layer (compiled without a
# GPU: 10.0 -> 7.2 kernels per sample at unroll 16, benchmarks/README.md).
T=90 run sample $B/sample_speed.py --configs paper --batches 1 --seconds 2 --baseline_seconds 0 \
    --unroll 16 --min_rows 1 --min_rows 2
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
echo "# done" >&2
