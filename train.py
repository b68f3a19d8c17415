"""Trains conditional SampleRNN; resumes when the workdir holds a checkpoint.

  python train.py --config configs/tiny.py --workdir runs/tiny
  python train.py --config configs/dcase2016.py --config.data_dir=D --workdir runs/paper
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from samplernn_jax import cli  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs/default.py"),
                                          "experiment config (a configs/*.py file)")
_WORKDIR = flags.DEFINE_string("workdir", "runs/default", "run folder: checkpoints, logs, samples")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  from samplernn_jax import trainer
  cli.run(lambda: trainer.train_and_evaluate(_CONFIG.value, _WORKDIR.value))


if __name__ == "__main__":
  app.run(main)
