#!/usr/bin/env bash
# The GPU benchmarks of issue 17 in one call of at most 600 s (about 9 minutes
# on an H200 by estimate, not yet timed whole; gpu_env.sh cuts each command's
# limit to the 560 s budget left and skips what no longer fits, so the rows
# already written come back). Most needed first, each comparison in one run:
#  1. the paper model's bf16 training step at batch 1024 with the GRU scans'
#     written-out gradient ('written') and the sample tier's bf16 ReLUs
#     ('output') against autodiff of each (four rows);
#  2. a profiled training step and its ten most expensive operations (the
#     issue's first step; the trace stays in /tmp: the device tool returns
#     8 files at most, none deeper than $OUT/a/b/file);
#  3. generation of one stream and of 300 clips (2 s each, to leave time),
#     innermost scan unrolled 1 and 16 times, then 300 clips in bf16 (the
#     Python-loop baseline is left out: 2026-11-26's rows have it);
#  4. the other sample_l1 forms in training (table_pallas last: a Triton
#     compile failure ends only its own row);
#  5. the GRU frame loops in XLA's kernels, then in gru_pallas' (rnn_kernel),
#     at the paper's batch of 128, scans unrolled 1 and 8 frames a trip;
#  6. a profiled stream and its top ten (the issue's generation profile);
#  7. one stream run as one row and as two (min_rows); one stream and 300
#     clips with XLA's while-loop command buffers (CUDA graphs).
# A setting that raises gives a row with its "error" and the next settings
# run. gpu_suite_more.sh has the rest, for a second call if device time is
# left (its files are named more_*).
#
#   GIT_HEAD=<commit> bash benchmarks/gpu_suite.sh [OUT_DIR]   # default benchmarks/results/raw
#
# On a lent machine (benchmarks/README.md, "Running on a lent GPU"): make
# .whl/ here first, carry it, and give the call its 600 s (BUDGET=<limit -
# 40> for a shorter one).
#
# Seven files: rows in OUT_DIR/<name>.jsonl (train, sample,
# sample_command_buffers, profiled: the two profiled rows, profile: their
# tables, each ending in a summary row that names its trace), the commit,
# device and package versions in OUT_DIR/device.txt, stderr with a start and
# an exit line per command in OUT_DIR/stderr.log. Each command has its own
# time limit (T seconds, default 150), so one slow or failing setting does
# not cost the others.
set -u
source "$(dirname "$0")/gpu_env.sh"

T=200 run train $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --rnn_grad written --rnn_grad autodiff --relu_grad output --relu_grad autodiff
# Where the paper model's bf16 step spends its time (the profiled row is
# slower than the rows above, so it goes to its own file).
rm -rf /tmp/profile_train /tmp/profile_sample
T=150 run profiled $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --profile /tmp/profile_train
T=60 run profile $B/profile_table.py --trace_dir /tmp/profile_train --top 10
T=150 run sample $B/sample_speed.py --configs paper --batches 1,300 --seconds 2 --unroll 1 \
    --unroll 16 --baseline_seconds 0
T=60 run sample $B/sample_speed.py --configs paper --batches 300 --seconds 2 --baseline_seconds 0 \
    --unroll 16 --dtype bfloat16
T=200 run train $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --sample_l1 table --sample_l1 table_mm --sample_l1 table_pallas
# Two Pallas kernels a frame each way instead of XLA's five to seven (compiled
# without a GPU, benchmarks/README.md), each at unroll 1 and 8: XLA's rows in
# a command of their own first, so that a Pallas kernel that fails (never
# yet run on a GPU), even by taking its process down, costs only its own.
T=80 run train $B/train_speed.py --configs paper --batch_sizes 128 --dtype bfloat16 \
    --rnn_unroll 1 --rnn_unroll 8 --rnn_kernel xla
T=100 run train $B/train_speed.py --configs paper --batch_sizes 128 --dtype bfloat16 \
    --rnn_unroll 1 --rnn_unroll 8 --rnn_kernel pallas
# Where one generated stream spends its time (3 200 samples in 5 blocks): the
# issue's profile of a generation block, before the experiments below.
T=90 run profiled $B/sample_speed.py --configs paper --batches 1 --seconds 0.2 \
    --baseline_seconds 0 --profile /tmp/profile_sample
T=60 run profile $B/profile_table.py --trace_dir /tmp/profile_sample --top 10
# One stream run as two rows (sampling.generate's min_rows): matrix-multiply
# kernels instead of a multiply and a reduction per layer (compiled without a
# GPU: 10.0 -> 7.2 kernels per sample at unroll 16, benchmarks/README.md).
T=90 run sample $B/sample_speed.py --configs paper --batches 1 --seconds 2 --baseline_seconds 0 \
    --unroll 16 --min_rows 1 --min_rows 2
XLA_FLAGS="--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL" T=120 \
    run sample_command_buffers $B/sample_speed.py --configs paper --batches 1,300 --seconds 2 \
    --baseline_seconds 0 --unroll 16
echo "# done at ${SECONDS} s" | tee -a "$LOG" >&2
