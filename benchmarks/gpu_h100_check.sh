#!/usr/bin/env bash
# The two GPU goals in one short call (about 1.5 minutes): the paper model's
# training speed at batch 1024 in bf16 (the 20-epochs-in-an-hour goal) and one
# generated stream against real time (sample_speed at batch 1).
#
#   bash benchmarks/gpu_h100_check.sh [OUT_DIR]
set -u
source "$(dirname "$0")/gpu_env.sh"
T=100 run train $B/train_speed.py --configs paper --batch_sizes 1024 --dtype bfloat16
T=60 run sample $B/sample_speed.py --configs paper --batches 1 --seconds 5
