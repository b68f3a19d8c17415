#!/usr/bin/env bash
# End-to-end training throughput on one GPU: train.py itself (data pipeline,
# jitted step, metric pulls, evaluation and checkpoints) on a paper-shaped
# stand-in dataset of random noise, then one float32 step-time row to set
# beside the bf16 ones of gpu_suite.sh.
#
#   bash benchmarks/gpu_train_run.sh [OUT_DIR] [CLIPS] [BATCH] [STEPS]
#
# Defaults: 2048 train clips of 128 000 samples (one epoch = 2 x 125 steps at
# batch 1024), 64 valid and 64 test clips, bf16, 250 steps. train.py's last line
# gives samples/s overall and after the first step's compile.
set -u
CLIPS=${2:-2048}; BATCH=${3:-1024}; STEPS=${4:-250}; EVAL_CLIPS=${EVAL_CLIPS:-64}
DS=${DS:-/tmp/samplernn_standin}
source "$(dirname "$0")/gpu_env.sh"
mkdir -p "$DS"
python3 - "$DS" "$CLIPS" "$EVAL_CLIPS" <<'PY'
import os, sys
sys.path.insert(0, "benchmarks")
import data_memory
ds, clips, eval_clips = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for split, n in (("train", clips), ("valid", eval_clips), ("test", eval_clips)):
  data_memory.write_standin(os.path.join(ds, f"audio_{split}.npz"), n)
PY
rm -rf /tmp/samplernn_e2e
timeout "${T:-240}" python3 train.py --config "${CONFIG:-configs/dcase2016.py}" \
  --config.data_dir="$DS" --workdir /tmp/samplernn_e2e \
  --config.batch_size="$BATCH" --config.dtype="${DTYPE:-bfloat16}" \
  --config.max_steps="$STEPS" --config.sample_every_evals=0 --config.log_every_steps=50 \
  ${EXTRA:-} > "$OUT_DIR/train_run.log" 2>&1
echo "train.py exit $?"; tr '\r' '\n' < "$OUT_DIR/train_run.log" | grep -v "^\s*$" | tail -4
if [ -z "${SKIP_F32:-}" ]; then
  T=120 run train $B/train_speed.py --configs paper --batch_sizes "$BATCH" --dtype float32
fi
