"""Writes demo/clip_bits.json: the demo model's cost on each bundled valid
and test clip (mean bits per sample, one number a clip).

  python scripts/demo_clip_bits.py [--out demo/clip_bits.json]

Run it after the demo checkpoint changes (demo/README.md). A split's cost in
demo/README.md is the mean of its clips' (every clip has as many samples),
so tests/test_demo.py checks the README's figures against this file and
recomputes a few clips with the current code, instead of the whole of both
splits (this script: 80 s to 2 minutes on the 2-core development machine).
"""
import os

import jax
from absl import app, flags

from samplernn_jax import cli, cost, files, sample_files, sharding
from samplernn_jax import data as data_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_OUT = flags.DEFINE_string("out", os.path.join(ROOT, "demo", "clip_bits.json"),
                           "the JSON file to write")


def clip_bits(loaded, split, evaluator) -> list[float]:
  """Mean bits per sample of each clip of ``split``, one evaluation a clip."""
  return [evaluator(loaded.params, data_lib.Split(split.path, split.wav[i:i + 1],
                                                  split.sid[i:i + 1]), f"clip {i}")
          for i in range(split.num_clips)]


def _run():
  loaded = sample_files.load_checkpoint(os.path.join(ROOT, "demo"), "best")
  config = loaded.config.copy_and_resolve_references()
  config.eval_batch_size = 1
  dataset = data_lib.open_dataset(config.data_dir, 0)
  evaluator = cost.Evaluator(loaded.model, config, sharding.make_mesh())
  out = {"checkpoint": f"demo/{loaded.checkpoint}", "jax": jax.__version__,
         "valid": clip_bits(loaded, dataset.valid, evaluator),
         "test": clip_bits(loaded, dataset.test, evaluator)}
  files.write_json(_OUT.value, out)
  for split in ("valid", "test"):
    print(f"{split}: {len(out[split])} clips, mean {sum(out[split]) / len(out[split]):.4f} bits")


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
