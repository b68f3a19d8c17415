#!/usr/bin/env bash
# The rest of the GPU benchmarks, for a second device call when gpu_suite.sh
# has run and device time is left (about 6 minutes by estimate): the GRU
# frame loops in gru_pallas' kernels at batch 1024 (table_pallas, unrolled
# 8); the draws' noise inside every sample step against batched per frame
# (one stream and 300 clips, unroll 1 and 16); the paper's
# batch of 128 in bf16 with the frame tiers' RNN scans unrolled 1 and 8
# frames a trip (config.rnn_unroll) with XLA's while-loop command buffers
# (gpu_suite.sh's step 5 has them without); the rows repeating 2026-11-26's settings (float32 at the
# paper's batch, 300 clips of 5 s in bf16); the compiled sampler's
# operations (about its kernels) per generated sample, both draw forms,
# unroll 1 and 16 (compiles only: the check of the counts compiled without a
# GPU, results/2026-11-30-h200-compiled/sampler_ops.jsonl, where XLA's gemm
# autotuner could not run); the sampler's hidden1 folded against not (one
# stream, 300 clips); last the bf16 backward matmuls and the loss's
# gradient against autodiff's. Give the call what is left (up to 600 s): the
# rows come back in order, the last may be cut.
#
#   bash benchmarks/gpu_suite_more.sh [OUT_DIR]
#
# Rows go to OUT_DIR/more_<name>.jsonl (train, train_command_buffers, sample,
# sampler_ops), beside more_device.txt and more_stderr.log: a second call's
# files beside the first's, none replaced. Give the call BUDGET=<its limit -
# 40> and GIT_HEAD=<commit>.
set -u
SUITE_PREFIX=more_
source "$(dirname "$0")/gpu_env.sh"

T=200 run train $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --sample_l1 table_pallas --rnn_unroll 8 --rnn_kernel xla --rnn_kernel pallas
T=150 run sample $B/sample_speed.py --configs paper --batches 1,300 --seconds 2 --baseline_seconds 0 \
    --unroll 1 --unroll 16 --draws frame --draws sample
# The RNN scans at the paper's batch, where their 6 x 64 loop trips a step
# weigh most (benchmarks/README.md, "The RNN scans' loop trips"), with XLA's
# while-loop command buffers (gpu_suite.sh has the rows without them).
XLA_FLAGS="--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL" T=90 \
    run train_command_buffers $B/train_speed.py --configs paper --batch_sizes 128 \
    --dtype bfloat16 --rnn_unroll 1 --rnn_unroll 8
# 2026-11-26's settings, with today's code.
run train $B/train_speed.py --configs paper --batch_sizes 128 --dtype float32
run sample $B/sample_speed.py --configs paper --batches 300 --seconds 5 --dtype bfloat16
T=90 run sampler_ops $B/sampler_ops.py --configs paper --unroll 1 --unroll 16
# The sampler's hidden1 folded (the library's since 2026-11-30) against its
# per-sample matmul: one stream (two rows) and 300 clips, unroll 16
# (compiled without a GPU: 7.2 -> 6.2 and 10.1 -> 8.1 kernels a sample).
T=150 run sample $B/sample_speed.py --configs paper --batches 1 --seconds 2 --baseline_seconds 0 \
    --unroll 16 --min_rows 2 --hidden1 folded --hidden1 matmul
T=150 run sample $B/sample_speed.py --configs paper --batches 300 --seconds 2 --baseline_seconds 0 \
    --unroll 16 --hidden1 folded --hidden1 matmul
# Last (a call with little time left may end inside it): the bf16 backward matmuls ('dtype')
# and the loss's written-out gradient ('vjp') against the pre-2026-11-30
# autodiff of each (four rows).
T=200 run train $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16 \
    --grad_matmuls dtype --grad_matmuls autodiff --loss_grad vjp --loss_grad autodiff
echo "# done at ${SECONDS} s" | tee -a "$LOG" >&2
