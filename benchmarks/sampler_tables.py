"""Generation with and without look-up tables for the sample tier's first layer.

  python benchmarks/sampler_tables.py     # paper, default and tiny configs

``sampling.prepare`` turns an embedding-input sample tier into per-position
tables (``sampling.embedding_to_tables``), so each generated sample costs s
row look-ups instead of a [B, s * Emb] x [s * Emb, H] matmul. This times
``sampling.generate`` with today's ``prepare`` ("new") against the earlier
one that only folded the weight norm ("old"), alternating, in one process;
each figure is the better of two timed runs after a compile. One JSON line
per (config, batch): old_s, new_s, speedup, and whether both drew the same
samples (they may differ where rounding moves a draw).
"""
import time

import common
import sample_speed  # class_vectors, RATE
import jax
import numpy as np
from absl import app

from samplernn_jax import cli, config as config_lib, sampling, steps

def old_prepare(model, params):
  """The sampler's preparation before the tables: weight norm folded only."""
  if model.weight_norm:
    params = sampling.fold_weight_norm(params)
  return model.clone(weight_norm=False, l1_impl="matmul"), params


def timed(model, params, vecs, n, prepare):
  key = jax.random.key(0)
  run = lambda: sampling.generate(model, params, vecs, n, key, block_samples=n,
                                  prepare_fn=prepare)
  run()  # compiles
  t = time.perf_counter()
  x, _ = run()
  return time.perf_counter() - t, np.asarray(x)


def main():
  runs = (("paper", (1, 15), 0.1), ("default", (1, 15, 300), 0.5), ("tiny", (1, 15, 300), 0.5))
  for name, batches, seconds in runs:
    config, n_classes = common.load_config(name)
    model = config_lib.build_model(config, n_classes)
    params = steps.init_params(model, jax.random.key(0), config.seq_len)
    for b in batches:
      vecs = sample_speed.class_vectors(b, n_classes)
      n = int(seconds * sample_speed.RATE) // 16 * 16
      old, new = [], []
      for _ in range(2):
        t_old, x_old = timed(model, params, vecs, n, old_prepare)
        t_new, x_new = timed(model, params, vecs, n, sampling.prepare)
        old.append(t_old)
        new.append(t_new)
      common.emit({"config": name, "batch": b, "samples": n, "old_s": round(min(old), 4),
                   "new_s": round(min(new), 4), "speedup": round(min(old) / min(new), 2),
                   "same_samples": bool(np.array_equal(x_old, x_new)),
                   "device": common.device_kind(), "date": common.today()})


if __name__ == "__main__":
  app.run(cli.absl_main(main), flags_parser=cli.parse_flags)
