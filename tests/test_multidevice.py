"""Data parallelism: 8 fake CPU devices train as 1 device does, and a run
started on 8 devices resumes on 1.

The 8-device run is a child process, because
``XLA_FLAGS=--xla_force_host_platform_device_count`` only takes effect before
jax is imported; the 1-device runs are this process's (one CPU device). The runs call
``trainer.train_and_evaluate`` (the real sharded train step: batch and carried
RNN state split over a 'data' mesh, parameters replicated) on the same data,
logging every step, evaluating at step 5 and at the end: 8 devices to step 5,
1 device to step 7, then the 8 devices' run resumed on 1 device to step 7.
"""
import json
import os

import jax
import numpy as np

from conftest import REPO, load_config_file
from samplernn_jax import checkpoint, trainer

# The train step wrapped to report, from inside the compiled step, each
# device's share of the batch, the carried RNN state and the parameters
# (jax.debug.inspect_array_sharding: the layout the compiler chose).
CHILD = """
import json, os, sys
import jax, numpy as np
from samplernn_jax import checkpoint, config, steps, trainer
c = config.load_config_file(os.path.join(sys.argv[1], "configs", "tiny.py"))
c.update(json.loads(sys.argv[2]))
shares, real_step = {}, steps.train_step

def reporting_step(model, tx, state, batch, **kwargs):
  for name, x in (("chunk", batch["chunk"]), ("rnn_state", jax.tree.leaves(state.rnn_state)[0]),
                  ("params", jax.tree.leaves(state.params)[0])):
    jax.debug.inspect_array_sharding(
        x, callback=lambda s, n=name, shape=x.shape: shares.setdefault(
            n, [list(shape), list(s.shard_shape(shape))]))
  return real_step(model, tx, state, batch, **kwargs)
steps.train_step = reporting_step
trainer.train_and_evaluate(c, sys.argv[3])
for step in (5, c.max_steps):
  tree, _ = checkpoint.restore_tree(sys.argv[3], checkpoint.LATEST, step)
  leaves = jax.tree_util.tree_flatten_with_path(
      {"params": tree["params"], "opt_state": tree["opt_state"]})[0]
  np.savez(os.path.join(sys.argv[3], f"state_{step}.npz"),
           **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})
print("devices:", jax.device_count())
print("shares:", json.dumps(shares))
"""


def flat_state(workdir, step):
  """{path: array} of checkpoint ``step``'s parameters and optimizer state,
  as CHILD saves them."""
  tree, _ = checkpoint.restore_tree(workdir, checkpoint.LATEST, step)
  leaves = jax.tree_util.tree_flatten_with_path(
      {"params": tree["params"], "opt_state": tree["opt_state"]})[0]
  return {jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves}


def adam_moments(state):
  """The leaves of Adam's first moment: 0.1 x the clipped gradient after
  one step, an average of them after more."""
  return {k: v for k, v in state.items() if "['mu']" in k}


def params_of(state):
  return {k: v for k, v in state.items() if k.startswith("['params']")}


def assert_params_close(got, want, atol=0.0):
  """Parameters after a few Adam steps (lr 3e-3, element-wise clip 1): Adam
  divides by sqrt(v), which magnifies float noise in tiny gradients.
  Measured: max |difference| <= 8e-6 x the leaf's largest magnitude after 5
  steps. Asserted: 1e-4 of it, or ``atol`` where larger. (Used for Adam's
  first moments too: measured 5e-7 of the leaf's largest; a gradient summed
  over 8 devices instead of averaged puts them 7 times the largest apart.)"""
  assert got.keys() == want.keys() and len(want) > 10
  for k in want:
    scale = max(np.abs(want[k]).max(), 1e-3)
    assert np.abs(got[k] - want[k]).max() <= max(1e-4 * scale, atol), k


def assert_records_close(got, want):
  """The same steps and fields; costs the same sums in another order
  (per-device partial sums, then an all-reduce). Measured: up to 3e-6 bits
  (3 float32 ulps at 9 bits). Asserted: 1e-5."""
  assert [r["step"] for r in got] == [r["step"] for r in want]
  for a, b in zip(got, want):
    assert a.keys() == b.keys()
    for k in a:
      if k.endswith("_bits"):
        assert abs(a[k] - b[k]) <= 1e-5, (k, a, b)


def test_eight_devices_train_like_one(run_python, tiny_config, small_dataset, tmp_path):
  """8 devices and 1 give the same costs, parameters and Adam moments; in
  the 8 devices' compiled step each device holds one eighth of the batch
  and of the carried RNN state, and all of the parameters; the 8 devices'
  run, resumed on 1 device (a host lost), ends as the 1-device run does.
  Rules out a gradient not averaged over the devices (summed: the costs
  move by only 3e-5 bits in 3 steps, as Adam cancels a constant scale but
  for the clip, so the moments are compared), a batch or carried state not
  split (every device computing the whole batch: the same numbers, no
  speed-up), and a checkpoint that only the device count that wrote it can
  restore."""
  overrides = dict(data_dir=small_dataset, log_every_steps=1, eval_every_steps=5,
                   checkpoint_every_steps=5)
  # check the overrides against the fixture's config (a typo fails here)
  config = tiny_config(**overrides)
  keys = ("dim", "n_rnn", "seq_len", "batch_size", "learning_rate", "max_eval_clips")
  overrides.update({k: config[k] for k in keys})
  assert config.batch_size % 8 == 0  # one row per device

  def run(devices, workdir, max_steps):
    if devices == 1:  # this process's one CPU device: CHILD's steps, without a child
      assert jax.device_count() == 1
      c = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
      c.update({**overrides, "max_steps": max_steps})
      trainer.train_and_evaluate(c, workdir)
      return read_records(workdir), {s: flat_state(workdir, s) for s in (5, max_steps)}
    proc = run_python(["-c", CHILD, REPO, json.dumps({**overrides, "max_steps": max_steps}),
                       workdir], devices=devices)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"devices: {devices}" in proc.stdout
    shares = json.loads(proc.stdout.split("shares: ", 1)[1].splitlines()[0])
    for name, (shape, share) in shares.items():  # [global shape, one device's share]
      rows = shape[0] // devices if name != "params" else shape[0]
      assert share == [rows, *shape[1:]], (name, shape, share)
    assert shares.keys() == {"chunk", "rnn_state", "params"}
    return read_records(workdir), {s: dict(np.load(os.path.join(workdir, f"state_{s}.npz")))
                                   for s in (5, max_steps)}

  def read_records(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      return [json.loads(line) for line in f]

  rec8, p8 = run(8, str(tmp_path / "dev8"), 5)
  rec1, p1 = run(1, str(tmp_path / "dev1"), 7)
  assert [r["step"] for r in rec1] == [1, 2, 3, 4, 5, 5, 6, 7, 7]
  assert_records_close(rec8, rec1[:6])
  assert_params_close(params_of(p8[5]), params_of(p1[5]))
  assert_params_close(adam_moments(p8[5]), adam_moments(p1[5]))
  # the runs did train (measured: 9.20 bits at step 1, 8.68 at step 5)
  assert rec1[4]["train_bits"] < rec1[0]["train_bits"] - 0.2
  # The 8 devices' run resumed on one device: steps 6 and 7 as the 1-device run's.
  # Two more Adam steps grow the float noise of step 5 where gradients are
  # tiny (Adam scales them up; measured: up to 3.6e-5, 1.2 % of one step of
  # the learning rate, in the sample tier's input kernel); asserted: 10 % of
  # one step. The costs of steps 6 and 7 are the sharper check: a resume
  # that lost Adam's moments or the carried RNN state changes them by far
  # more than 1e-5 bits.
  rec_resumed, p_resumed = run(1, str(tmp_path / "dev8"), 7)
  assert_records_close(rec_resumed, rec1)
  assert_params_close(params_of(p_resumed[7]), params_of(p1[7]),
                      atol=0.1 * config.learning_rate)
