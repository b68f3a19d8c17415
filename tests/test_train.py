"""Training (samplernn_jax/trainer.py, train.py): learning, resume, end to end, bad input."""
import glob
import json
import os

import jax
import numpy as np
import pytest
import soundfile as sf

from samplernn_jax import checkpoint, metrics, trainer

# The same few programs compile once for the whole module (conftest.py).
pytestmark = pytest.mark.usefixtures("compile_cache")


def read_lines(workdir):
  with open(os.path.join(workdir, metrics.METRICS_FILE)) as f:
    return f.read().splitlines()


def test_cost_falls_on_synthetic_data(tiny_config, tmp_path):
  """300 steps of the tiny model on the generated textures.

  Measured (dim 32, one GRU layer, chunks of 64, batch 8, lr 3e-3): the mean
  train cost of steps 1-25 is 8.32 bits, of steps 276-300 5.66 bits; valid
  5.36 bits. About 10-15 s on 2 cores. Asserted: a fall of at least 1.5 bits
  and valid below 7 bits (uniform guessing costs 8).
  """
  config = tiny_config(max_steps=300, log_every_steps=25)
  last = trainer.train_and_evaluate(config, str(tmp_path))
  rows = metrics.read_metrics(str(tmp_path))
  train = [r["train_bits"] for r in rows if "train_bits" in r]
  assert len(train) == 12
  assert train[-1] < train[0] - 1.5, train
  assert last["valid_bits"] < 7.0 and last["test_bits"] < 7.0, last
  assert last["step"] == 300


def restored_params(workdir, step):
  params, meta = checkpoint.restore_params(workdir, checkpoint.LATEST, step)
  assert meta["step"] == step
  return params


def test_resumed_run_equals_unbroken_run(tiny_config, small_dataset, tmp_path):
  """40 steps at once vs 20 steps, then a second call to 40 in the same workdir.

  The small data give 16 chunks a batch and 32 steps an epoch, so the resume
  point (step 20) is in the middle of a batch (the carried RNN state matters)
  and the run crosses an epoch boundary (a new shuffle) after it. Same machine,
  same programs: parameters and metrics must be bit-identical.
  """
  kw = dict(data_dir=small_dataset, log_every_steps=5, eval_every_steps=10,
            checkpoint_every_steps=1000)
  whole, split = str(tmp_path / "whole"), str(tmp_path / "split")
  trainer.train_and_evaluate(tiny_config(max_steps=40, **kw), whole)
  trainer.train_and_evaluate(tiny_config(max_steps=20, **kw), split)
  first_part = read_lines(split)
  mid = jax.tree.leaves(restored_params(split, 20))  # deleted later (keep_checkpoints=2)
  last = trainer.train_and_evaluate(tiny_config(max_steps=40, **kw), split)

  lines_whole, lines_split = read_lines(whole), read_lines(split)
  steps_logged = [json.loads(line)["step"] for line in lines_whole]
  assert steps_logged == [5, 10, 10, 15, 20, 20, 25, 30, 30, 35, 40, 40]
  assert first_part == lines_whole[:6]  # records up to step 20
  assert lines_split == lines_whole    # and after it
  assert last["step"] == 40 and "valid_bits" in last

  a, b = restored_params(whole, 40), restored_params(split, 40)
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b) > 0
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)
  # and training moved them: the resumed run did not just reload step 20
  assert any(not np.array_equal(x, y) for x, y in zip(mid, leaves_b))

  # a third call on the finished workdir has nothing to do and changes nothing
  assert trainer.train_and_evaluate(tiny_config(max_steps=40, **kw), split) == {}
  assert read_lines(split) == lines_whole
  assert sorted(os.listdir(os.path.join(split, checkpoint.LATEST))) == ["30", "40"]


def test_training_samples_at_evaluations(tiny_config, small_dataset, tmp_path):
  """sample_every_evals=1: each evaluation writes clips of every class into
  samples/train_<step>/, at sample.py's default level (each clip at its
  class's training RMS, which the checkpoint's meta records) with
  model.json. Rules out training samples that fail for want of the class
  levels, and levels that ignore the class."""
  wd = str(tmp_path / "run")
  cfg = tiny_config(data_dir=small_dataset, max_steps=10, eval_every_steps=10,
                    sample_every_evals=1, sample_per_class=1, sample_seconds=0.05)
  trainer.train_and_evaluate(cfg, wd)
  out = os.path.join(wd, "samples", "train_10")
  wavs = sorted(f for f in os.listdir(out) if f.endswith(".wav"))
  _, meta = checkpoint.restore_params(wd, checkpoint.LATEST, 10)
  rms = meta["class_rms"]
  assert len(wavs) == len(meta["class_names"]) == len(rms)
  for f in wavs:
    audio, _ = sf.read(os.path.join(out, f))
    c = meta["class_names"].index(f.rsplit("_", 1)[0])
    assert np.sqrt(np.mean((audio - audio.mean()) ** 2)) == pytest.approx(rms[c], rel=1e-3)
  with open(os.path.join(out, "model.json")) as fh:
    assert json.load(fh)["level"] == "class"


# ---------------------------------------------------------------------------
# train.py as a user runs it


# train.py with the tiny_config fixture's model (the same compiled programs)
SMALL = ["--config.dim=32", "--config.n_rnn=1", "--config.seq_len=64",
         "--config.learning_rate=3e-3"]


def test_train_py_end_to_end(run_python, tiny_config, tmp_path):
  """The tiny config (generated data) for 10 steps, evaluated at 5 and 10."""
  workdir = str(tmp_path / "run")
  proc = run_python(["train.py", "--config", "configs/tiny.py", *SMALL,
                     "--config.max_steps=10", "--config.log_every_steps=5",
                     "--config.eval_every_steps=5", "--config.max_eval_clips=2",
                     "--workdir", workdir])
  out = proc.stdout + proc.stderr
  assert proc.returncode == 0, out
  n = trainer.param_count(tiny_config(), 4)  # the generated data have 4 classes
  assert f"parameters: {n}" in out

  rows = metrics.read_metrics(workdir)
  train = [r for r in rows if "train_bits" in r]
  evals = [r for r in rows if "valid_bits" in r]
  assert [r["step"] for r in train] == [5, 10]
  assert all(np.isfinite(r["train_bits"]) and 4 < r["train_bits"] < 12 for r in train)
  assert [r["step"] for r in evals] == [5, 10]
  assert "test_bits" in evals[0]  # test runs when valid improves (always, the first time)
  assert all(("test_bits" in r) == (r["valid_bits"] <= evals[0]["valid_bits"]) for r in evals)

  assert os.path.getsize(os.path.join(workdir, metrics.CURVES_FILE)) > 1000
  with open(os.path.join(workdir, metrics.CURVES_FILE), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert os.path.isdir(os.path.join(workdir, checkpoint.LATEST, "10"))
  assert os.listdir(os.path.join(workdir, checkpoint.BEST))
  assert glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*"))
  params = restored_params(workdir, 10)
  assert trainer.count_params(params) == n


def check_error(proc, *fragments):
  """Exit code 2 and one clear line naming the problem, no traceback."""
  assert proc.returncode == 2, proc.stdout + proc.stderr
  assert "Traceback" not in proc.stderr, proc.stderr
  for fragment in fragments:
    assert fragment in proc.stderr, proc.stderr


def test_train_py_unknown_config_key(run_python, tmp_path):
  proc = run_python(["train.py", "--config", "configs/tiny.py", "--config.nonexistent=1",
                     "--workdir", str(tmp_path)])
  check_error(proc, "nonexistent")


def test_train_py_missing_data_file(run_python, tmp_path):
  empty = tmp_path / "data"
  empty.mkdir()
  proc = run_python(["train.py", "--config", "configs/tiny.py", *SMALL,
                     f"--config.data_dir={empty}", "--workdir", str(tmp_path / "run")])
  check_error(proc, os.path.join(str(empty), "audio_train.npz"), "no such file")


def test_train_py_batch_not_divisible_by_devices(run_python, tmp_path):
  proc = run_python(["train.py", "--config", "configs/tiny.py", *SMALL,
                     "--config.batch_size=3", "--workdir", str(tmp_path / "run")],
                    devices=2)
  check_error(proc, "config.batch_size=3", "2 devices")


def test_train_py_checkpoint_of_another_shape(run_python, tiny_config, small_dataset,
                                              tmp_path):
  workdir = str(tmp_path / "run")
  trainer.train_and_evaluate(tiny_config(data_dir=small_dataset, max_steps=2), workdir)
  proc = run_python(["train.py", "--config", "configs/tiny.py", *SMALL, "--config.dim=16",
                     f"--config.data_dir={small_dataset}", "--config.max_steps=4",
                     "--workdir", workdir])
  check_error(proc, workdir, "dim: checkpoint 32 vs config 16")
  # the refused run changed nothing
  assert sorted(os.listdir(os.path.join(workdir, checkpoint.LATEST))) == ["2"]
