"""Scores a checkpoint: mean bits per target sample over every clip of an npz.

  python scripts/score.py --workdir runs/paper --data datasets/audio_test.npz \
      [--ckpt best|latest|STEP] [--config.eval_batch_size=64 ...]

Prints one JSON line ``{"bits": ..., "clips": ..., "samples": ...}``
(``samples``: target samples scored, clips x clip length). The cost is
computed by the same code as validation in train.py (``cost.Evaluator``)
with the model config saved in the checkpoint; ``--config.KEY=VALUE`` may
change only keys that leave the model alone (eval_batch_size, seq_len, dtype,
max_eval_clips, ...), never one of ``config.MODEL_KEYS``.
"""
import json


from absl import app, flags
from ml_collections import config_flags

from samplernn_jax import cli
from samplernn_jax.config import base_config

cli.share_the_gpu()  # beside a training run on the same GPU (before JAX starts)

_CONFIG = cli.define_config(
    config_flags.DEFINE_config_dict, "config", base_config(),
    "overrides of the checkpoint's config (not model keys), as "
    "--config.KEY=VALUE, e.g. --config.eval_batch_size=8")
_WORKDIR = flags.DEFINE_string("workdir", "", "run folder holding the checkpoint")
_DATA = flags.DEFINE_string("data", "", "paper-format npz (wav, sid) to score")
_CKPT = flags.DEFINE_string("ckpt", "best", "best, latest or a step number")
_MODEL_CLS = flags.DEFINE_string("model_cls", None, cli.MODEL_CLS_HELP)


def _run():
  from samplernn_jax import cost
  if not _WORKDIR.value or not _DATA.value:
    raise ValueError("--workdir and --data are required")
  overrides = config_flags.get_override_values(flags.FLAGS["config"])
  result = cost.score(_WORKDIR.value, _DATA.value, _CKPT.value, overrides,
                      cli.model_class(_MODEL_CLS.value, cost.SampleRNN))
  print(json.dumps(result))


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
