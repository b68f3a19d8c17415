"""Data parallelism: 8 fake CPU devices train as 1 device does.

Each run is a child process, because ``XLA_FLAGS=--xla_force_host_platform_device_count``
only takes effect before jax is imported. Both runs call
``trainer.train_and_evaluate`` (the real sharded train step: batch and carried
RNN state split over a 'data' mesh, parameters replicated) for 5 steps on the
same data, logging every step, then evaluate.
"""
import json
import os

import numpy as np

from conftest import REPO

CHILD = """
import json, os, sys
import jax, numpy as np
from samplernn_jax import checkpoint, config, trainer
c = config.load_config_file(os.path.join(sys.argv[1], "configs", "tiny.py"))
c.update(json.loads(sys.argv[2]))
trainer.train_and_evaluate(c, sys.argv[3])
params, _ = checkpoint.restore_params(sys.argv[3], checkpoint.LATEST, c.max_steps)
leaves = jax.tree_util.tree_flatten_with_path(params)[0]
np.savez(os.path.join(sys.argv[3], "params.npz"),
         **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})
print("devices:", jax.device_count())
"""


def test_eight_devices_train_like_one(run_python, tiny_config, small_dataset, tmp_path):
  overrides = dict(data_dir=small_dataset, max_steps=5, log_every_steps=1,
                   eval_every_steps=5, checkpoint_every_steps=5)
  # check the overrides against the fixture's config (a typo fails here)
  config = tiny_config(**overrides)
  keys = ("dim", "n_rnn", "seq_len", "batch_size", "learning_rate", "max_eval_clips")
  overrides.update({k: config[k] for k in keys})
  assert config.batch_size % 8 == 0  # one row per device

  runs = {}
  for devices in (8, 1):
    workdir = str(tmp_path / f"dev{devices}")
    proc = run_python(["-c", CHILD, REPO, json.dumps(overrides), workdir],
                      devices=devices if devices > 1 else None)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"devices: {devices}" in proc.stdout
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      records = [json.loads(line) for line in f]
    with np.load(os.path.join(workdir, "params.npz")) as z:
      params = {k: z[k] for k in z.files}
    runs[devices] = records, params

  (rec8, p8), (rec1, p1) = runs[8], runs[1]
  assert [r["step"] for r in rec8] == [r["step"] for r in rec1] == [1, 2, 3, 4, 5, 5]
  # Losses: the same sums in another order (per-device partial sums, then an
  # all-reduce). Measured: differences up to 3e-6 bits (3 float32 ulps at 9
  # bits). Asserted: 1e-5.
  for a, b in zip(rec8, rec1):
    assert a.keys() == b.keys()
    for k in a:
      if k.endswith("_bits"):
        assert abs(a[k] - b[k]) <= 1e-5, (k, a, b)
  # Parameters after 5 Adam steps (lr 3e-3, element-wise clip 1): Adam divides
  # by sqrt(v), which magnifies float noise in tiny gradients. Measured: max
  # |difference| <= 8e-6 x the leaf's largest magnitude. Asserted: 1e-4.
  assert p8.keys() == p1.keys() and len(p1) > 10
  for k in p1:
    scale = max(np.abs(p1[k]).max(), 1e-3)
    assert np.abs(p8[k] - p1[k]).max() <= 1e-4 * scale, k
  # the runs did train (measured: 9.20 bits at step 1, 8.68 at step 5)
  assert rec1[4]["train_bits"] < rec1[0]["train_bits"] - 0.2
