"""Training (samplernn_jax/trainer.py, steps.py, train.py): learning, the
optimizer, resume, the best checkpoint, end to end, bad input."""
import functools
import glob
import json
import os
import re

import jax
import numpy as np
import optax
import pytest
import soundfile as sf

from conftest import random_batch
from samplernn_jax import batches as batches_lib
from samplernn_jax import checkpoint, cost, datasets, metrics, sharding, splits, steps
from samplernn_jax import run_status, trainer, trim
from samplernn_jax import config as config_lib


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


def median_clip_rms(wav, sid, n_classes):
  """Each class's median DC-free clip RMS, float64 [n_classes], written out
  here (what ``levels.class_rms`` must record)."""
  wav = np.asarray(wav, np.float64)
  clip_rms = np.sqrt(np.mean((wav - wav.mean(-1, keepdims=True)) ** 2, -1))
  return np.array([np.median(clip_rms[np.asarray(sid) == c]) for c in range(n_classes)])


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

  # a third call on the finished workdir has nothing to do and changes
  # nothing, config.json included (its learning rate is not what trained it)
  with open(os.path.join(split, metrics.CONFIG_FILE), "rb") as f:
    config_json = f.read()
  assert trainer.train_and_evaluate(tiny_config(max_steps=40, learning_rate=5e-4, **kw),
                                    split) == {}
  assert read_lines(split) == lines_whole
  with open(os.path.join(split, metrics.CONFIG_FILE), "rb") as f:
    assert f.read() == config_json
  assert sorted(os.listdir(os.path.join(split, checkpoint.LATEST))) == ["30", "40"]


def test_eval_every_steps_0_evaluates_once_per_epoch_and_at_the_end(tiny_config,
                                                                    small_dataset, tmp_path):
  """eval_every_steps=0 (the default) evaluates once per epoch and at the end
  of the run, and metrics.jsonl holds the README's records: {step, epoch,
  train_bits} every log_every_steps (and at evaluations), {step, epoch,
  valid_bits[, test_bits]} at evaluations, epoch = step / steps per epoch.
  The small data give 32 steps an epoch, so a 40-step run evaluates at 32
  and 40. Rules out 0 read literally (an evaluation at every step, or none),
  an epoch of another length, and a run that ends without evaluating its
  last step."""
  config = tiny_config(data_dir=small_dataset, max_steps=40, log_every_steps=10,
                       eval_every_steps=0)
  trainer.train_and_evaluate(config, str(tmp_path))
  rows = metrics.read_metrics(str(tmp_path))
  train = [r for r in rows if "train_bits" in r]
  evals = [r for r in rows if "valid_bits" in r]
  assert [r["step"] for r in evals] == [32, 40]
  assert [r["step"] for r in train] == [10, 20, 30, 32, 40]
  assert all(set(r) == {"step", "epoch", "train_bits"} for r in train), train
  assert all(set(r) in ({"step", "epoch", "valid_bits"},
                        {"step", "epoch", "valid_bits", "test_bits"}) for r in evals), evals
  assert "test_bits" in evals[0]  # the first evaluation is always the best so far
  assert all(r["epoch"] == pytest.approx(r["step"] / 32) for r in rows), rows


def test_each_evaluation_line_says_where_the_best_state_and_the_clips_are(
    tiny_config, small_dataset, tmp_path, monkeypatch, capsys):
  """An evaluation's log line ends with ``(new best, saved to best/S)`` when
  its valid bits beat every earlier one and ``(best valid_bits B, in
  best/)`` when not, and the clips an evaluation writes are a line naming
  their folder. Rules out lines an operator of a days-long run could not
  read the run's state from (before: the bits alone; a new best showed
  only as a test_bits field, the clips not at all). ``status.json`` says
  ``running`` at the step being evaluated, then ``finished`` with the best
  valid bits."""
  valid = iter([5.0, 6.0])  # the second evaluation is worse than the first
  real, seen = trainer.Evaluator.__call__, []

  def scripted(self, params, split, name):
    seen.append(run_status.read(str(tmp_path)))
    return next(valid) if name == "valid" else real(self, params, split, name)
  monkeypatch.setattr(trainer.Evaluator, "__call__", scripted)
  config = tiny_config(data_dir=small_dataset, max_steps=20, eval_every_steps=10,
                       sample_every_evals=2, sample_per_class=1, sample_seconds=0.05)
  trainer.train_and_evaluate(config, str(tmp_path))
  out = capsys.readouterr().out
  assert re.search(r"step 10 epoch \S+: valid_bits 5\.0000 test_bits \S+ "
                   r"\(new best, saved to best/10\)\n", out), out
  assert "step 20 epoch 0.62: valid_bits 6.0000 (best valid_bits 5.0000, in best/)\n" in out
  assert f"step 20: 4 clips in {os.path.join(str(tmp_path), 'samples', 'train_20')}\n" in out
  # and status.json, while it ran and at its end
  # (read as each split is scored: valid and test at step 10, valid at 20)
  assert [(r["state"], r["step"]) for r in seen] == [("running", 10)] * 2 + [("running", 20)]
  end = run_status.read(str(tmp_path))
  assert (end["state"], end["step"], end["best_valid_bits"]) == ("finished", 20, 5.0)


def test_train_bits_are_the_mean_of_their_own_logging_window(tiny_config, small_dataset,
                                                          tmp_path):
  """Logging every 2 steps records the mean of exactly those 2 steps' costs:
  the records at steps 2, 4 and 6 equal the means of steps (1, 2), (3, 4) and
  (5, 6) of the same run logged every step, and the record at step 7 (the
  run's end, a window of one step) equals step 7's cost (float32 sums in
  another order: 1e-5 bits). Rules out a running mean since the start of
  the run (neither sum reset at a log), a sum not divided by its own count
  (e.g. by log_every_steps: the short last window halved), and a window
  that keeps the last step of the previous one."""
  kw = dict(data_dir=small_dataset, max_steps=7, checkpoint_every_steps=1000)
  every_step, every_two = str(tmp_path / "one"), str(tmp_path / "two")
  trainer.train_and_evaluate(tiny_config(log_every_steps=1, **kw), every_step)
  trainer.train_and_evaluate(tiny_config(log_every_steps=2, **kw), every_two)
  per_step = [r["train_bits"] for r in metrics.read_metrics(every_step) if "train_bits" in r]
  windows = [r for r in metrics.read_metrics(every_two) if "train_bits" in r]
  assert len(per_step) == 7 and [r["step"] for r in windows] == [2, 4, 6, 7]
  # the costs move from step to step, so a wrong window gives another mean
  assert np.ptp(per_step) > 1e-3, per_step
  for i, r in enumerate(windows):
    assert r["train_bits"] == pytest.approx(np.mean(per_step[2 * i:2 * i + 2]), abs=1e-5)


def test_the_trainer_draws_batches_with_the_configs_data_settings(tiny_config, npz_writer,
                                                                 tmp_path):
  """``make_setup`` passes dither, balance_classes, cond_dropout and
  trim_quiet on to the training batches: its batches equal those of a
  ``TrainBatches`` built by hand with each setting, and each setting, turned
  off alone, changes them (so none is a no-op on these data); at 8 kHz,
  trim's frames are 20 ms of that rate. Rules out a trainer that drops one
  of them (e.g. cond_dropout, which guided sampling needs) while its own
  unit tests still pass, and trim's 16 kHz frame used at every rate."""
  # classes 0-3 unbalanced (8, 4, 2, 2 clips) so that balance_classes matters
  sid = np.array([0] * 8 + [1] * 4 + [2] * 2 + [3] * 2, np.uint8)
  rng = np.random.default_rng(0)
  wav = (0.5 * np.sin(np.arange(1024) * (sid[:, None] + 1) / 10.0)
         + 0.1 * rng.standard_normal((16, 1024)))
  # a quiet 20 ms frame at 8 kHz in every clip, for trim_quiet (half of a 16 kHz frame)
  wav[:, 480:640] = 0.0
  for split in ("train", "valid", "test"):
    npz_writer(tmp_path / "data", split, wav.astype(np.float16), sid)
  # at 8 kHz, where trim's 20 ms frame is 160 samples (320 at its default 16 kHz)
  settings = dict(dither=True, balance_classes=True, cond_dropout=0.5, trim_quiet=0.5,
                  sample_rate=8000)
  config = tiny_config(data_dir=str(tmp_path / "data"), **settings)

  def drawn(cfg):
    got = trainer.make_setup(cfg).batches
    return [got.get(s) for s in (0, 17, 40)]

  dataset = datasets.open_dataset(config.data_dir)
  split, _ = trim.trim_split(dataset.train, config.q_levels, 0.5, dataset.class_names,
                             trim.frame_samples(8000))
  by_hand = batches_lib.TrainBatches(split, config.batch_size, config.seq_len,
                                     config_lib.frame_sizes(config)[0], config.q_type,
                                     config.q_levels, config.seed, dither=True, balance=True,
                                     cond_dropout=0.5)
  want = [by_hand.get(s) for s in (0, 17, 40)]
  same = lambda a, b: all(np.array_equal(x[k], y[k]) for x, y in zip(a, b) for k in x)
  assert same(drawn(config), want)
  for key, off in (("dither", False), ("balance_classes", False), ("cond_dropout", 0.0),
                   ("trim_quiet", 0.0)):
    assert not same(drawn(tiny_config(data_dir=config.data_dir, **{**settings, key: off})),
                    want), key


def test_class_levels_under_trim_quiet_are_the_untrimmed_clips(tiny_config, npz_writer,
                                                               tmp_path):
  """With config.trim_quiet, the class levels a run records (the meta's
  class_rms: sample.py's default level) are the median DC-free RMS of each
  class's clips as packed, not of the trimmed clips it trains on: two 20 ms
  frames of every clip's five are silent, so the trimmed clips are about
  sqrt(5 / 3) louder (asserted: 20% or more in every class). Rules out
  levels measured on the trimmed split, which would generate every class
  too loud for the recordings it stands for."""
  sid = np.repeat(np.arange(4), 4).astype(np.uint8)
  rng = np.random.default_rng(1)
  wav = (0.5 * np.sin(np.arange(1600) * (sid[:, None] + 1) / 10.0)
         + 0.1 * rng.standard_normal((16, 1600)))
  wav[:, 640:1280] = 0.0  # frames 2 and 3 of five (20 ms at 16 kHz): cut by trim_quiet
  for split in ("train", "valid", "test"):
    npz_writer(tmp_path / "data", split, wav.astype(np.float16), sid)
  config = tiny_config(data_dir=str(tmp_path / "data"), trim_quiet=0.5, max_steps=1)
  wd = str(tmp_path / "run")
  trainer.train_and_evaluate(config, wd)
  _, meta = checkpoint.restore_params(wd, checkpoint.LATEST, 1)
  dataset = datasets.open_dataset(config.data_dir)
  trimmed, _ = trim.trim_split(dataset.train, config.q_levels, 0.5, dataset.class_names)
  untrimmed = median_clip_rms(dataset.train.wav, dataset.train.sid, 4)
  assert np.all(median_clip_rms(trimmed.wav, trimmed.sid, 4) > 1.2 * untrimmed)
  assert meta["class_rms"] == pytest.approx(untrimmed, rel=1e-9)


def test_evaluation_cost_is_the_mean_over_every_target_sample(tiny_config):
  """``cost.Evaluator`` (valid_bits, test_bits, score.py) on 5 clips of 150
  samples in chunks of 64 (the last chunk of a clip holds 22 samples) and
  batches of 4 (the second batch is 1 clip and 3 masked copies): the sum of
  every clip's bits over the number of its samples, each clip scored alone
  as one chunk (``steps.chunk_cost``; float32 sums in another order:
  relative 1e-5). Rules out a mean of per-chunk or per-batch means (short
  last chunks and the padded batch weighted as full ones) and padded rows
  counted. The initial parameters are scaled by 1.5 so that the costs of
  the chunks differ (about 39 bits a sample; a mean of chunk means is then
  0.1 bits off, measured; at scale 1 all chunks cost about 9.26 bits and it
  was only 5e-4 bits off). With max_eval_clips 3 it is the mean over
  clips 0, 2 and 4 (spread over the split, not its first three)."""
  config = tiny_config(eval_batch_size=4, max_eval_clips=0)
  model = config_lib.build_model(config, 4)
  params = jax.tree.map(lambda x: 1.5 * x,
                        steps.init_params(model, jax.random.key(3), config.seq_len))
  rng = np.random.default_rng(0)
  wav = np.sin(np.arange(150) * (1 + np.arange(5))[:, None] / 7.0) * rng.uniform(0.2, 0.9, (5, 1))
  split = splits.Split("five.npz", wav, np.array([0, 1, 2, 3, 1], np.int32))
  got = cost.Evaluator(model, config, sharding.make_mesh())(params, split)

  top = config_lib.frame_sizes(config)[0]
  bits, count = np.zeros(5), np.zeros(5)
  for i in range(5):  # each clip alone, one chunk of 192 samples (150 real)
    q, mask = batches_lib.prepare_clips(wav[i:i + 1], 192, top, config.q_type, config.q_levels)
    batch = {"chunk": q, "mask": mask, "sid": split.sid[i:i + 1], "reset": np.array([True])}
    h = steps.initial_rnn_state(model, params, 1)
    b, n, _ = steps.chunk_cost(model, params, batch, h)
    bits[i], count[i] = float(b), float(n)
  assert count.sum() == 5 * 150
  assert got == pytest.approx(bits.sum() / count.sum(), rel=1e-5)
  # max_eval_clips=3 keeps clips 0, 2 and 4, spread over the split (a split
  # packed in class order kept its first classes only when it took 0, 1, 2)
  config.max_eval_clips = 3
  some = cost.Evaluator(model, config, sharding.make_mesh())(params, split)
  assert some == pytest.approx(bits[[0, 2, 4]].sum() / count[[0, 2, 4]].sum(), rel=1e-5)


def test_best_holds_the_lowest_valid_evaluation(tiny_config, small_dataset, tmp_path):
  """Evaluations at 10 and 20 (valid falls), then the run is resumed with a
  learning rate of 1.0, 333 times the first (allowed on resume), to step
  30, where valid rises (measured: 8.26, 8.08, then 8.73 bits). ``best/``
  must hold the parameters of the lowest-valid evaluation, equal to the
  latest checkpoint of that step and not the last one, with its valid cost
  in the meta; ``test_bits`` must appear exactly at the evaluations where
  valid improved on every earlier one (the paper's protocol). Rules out
  best saved at every evaluation (best == latest), test scored every time,
  and a resume that forgets the best valid cost."""
  wd = str(tmp_path / "run")
  kw = dict(data_dir=small_dataset, log_every_steps=10, eval_every_steps=10,
            checkpoint_every_steps=1000, keep_checkpoints=3)
  trainer.train_and_evaluate(tiny_config(max_steps=20, **kw), wd)
  trainer.train_and_evaluate(tiny_config(max_steps=30, learning_rate=1.0, **kw), wd)

  evals = [r for r in metrics.read_metrics(wd) if "valid_bits" in r]
  assert [r["step"] for r in evals] == [10, 20, 30]
  valid = [r["valid_bits"] for r in evals]
  # The setup does what it is meant to: an improvement after the first
  # evaluation, then a rise.
  assert valid[1] < valid[0] and valid[2] > min(valid[:2]), valid
  improved = [v < min(valid[:i], default=np.inf) for i, v in enumerate(valid)]
  assert [("test_bits" in r) for r in evals] == improved == [True, True, False]

  best_step = evals[int(np.argmin(valid))]["step"]
  assert sorted(int(n) for n in os.listdir(os.path.join(wd, checkpoint.BEST))) == [best_step]
  assert checkpoint.find_step(wd, "best") == (checkpoint.BEST, best_step)
  best, meta = checkpoint.restore_params(wd, checkpoint.BEST, best_step)
  assert meta["step"] == best_step and meta["best_valid"] == min(valid)
  same_step = restored_params(wd, best_step)
  assert jax.tree.structure(best) == jax.tree.structure(same_step)
  for a, b in zip(jax.tree.leaves(best), jax.tree.leaves(same_step)):
    np.testing.assert_array_equal(a, b)
  last = jax.tree.leaves(restored_params(wd, 30))
  assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(best), last))


def test_training_samples_at_evaluations(tiny_config, small_dataset, tmp_path):
  """sample_every_evals=2 with evaluations at steps 5, 10, 15 and 20: every
  second evaluation (10 and 20, none else) writes clips of every class into
  samples/train_<step>/, at sample.py's default level (each clip at its
  class's training RMS, which the checkpoint's meta records) with
  model.json, logged to TensorBoard as audio beside the config (text, and
  config.json in the workdir). Rules out clips at every evaluation whatever
  the setting (or at the wrong ones), training samples that fail for want
  of the class levels, levels that ignore the class or are not the
  training split's (the valid split's passed: the clips matched the meta,
  which recorded them), and a run whose resolved config is not kept."""
  wd = str(tmp_path / "run")
  cfg = tiny_config(data_dir=small_dataset, max_steps=20, eval_every_steps=5,
                    sample_every_evals=2, sample_per_class=1, sample_seconds=0.05)
  trainer.train_and_evaluate(cfg, wd)
  assert sorted(os.listdir(os.path.join(wd, "samples"))) == ["train_10", "train_20"]
  out = os.path.join(wd, "samples", "train_10")
  wavs = sorted(f for f in os.listdir(out) if f.endswith(".wav"))
  _, meta = checkpoint.restore_params(wd, checkpoint.LATEST, 20)
  rms = meta["class_rms"]
  assert len(wavs) == len(meta["class_names"]) == len(rms)
  # the levels are the training split's: the median DC-free RMS of each
  # class's clips, by hand (float64 sums in another order: relative 1e-9;
  # the valid split's differ by 0.1-6%)
  train = datasets.open_dataset(small_dataset).train
  want = median_clip_rms(train.wav, train.sid, len(rms))
  assert rms == pytest.approx(want, rel=1e-9)
  for f in wavs:
    audio, _ = sf.read(os.path.join(out, f))
    c = meta["class_names"].index(f.rsplit("_", 1)[0])
    assert np.sqrt(np.mean((audio - audio.mean()) ** 2)) == pytest.approx(rms[c], rel=1e-3)
  with open(os.path.join(out, "model.json")) as fh:
    assert json.load(fh)["level"] == "class"
  # config.json, and TensorBoard: the config as text, the clips as audio
  with open(os.path.join(wd, "config.json")) as fh:
    assert json.load(fh) == json.loads(json.dumps(cfg.to_dict()))
  events = list(tensorboard_events(os.path.join(wd, "tensorboard")))
  tags = {v.tag: v for e in events for v in e.summary.value}
  for f in wavs:
    clip = tags["samples/" + f[:-4]]
    assert clip.audio.sample_rate == 16000 and clip.audio.length_frames == len(audio)
  assert any("learning_rate" in v.tensor.string_val[0].decode()
             for t, v in tags.items() if t.startswith("config"))


def test_training_samples_leave_out_a_class_without_a_level(tiny_config, tmp_path):
  """A class with no training clips (no level: ``config.n_classes`` above the
  data's, or a class only in valid or test) or with silent ones (level 0)
  is left out of the training samples; the others are written at their
  levels. Rules out the LevelError that stopped a run at its first sample
  write."""
  cfg = tiny_config(sample_per_class=1, sample_seconds=0.01)
  model = config_lib.build_model(cfg, 4)
  params = steps.init_params(model, jax.random.key(0), cfg.seq_len)
  paths = trainer.write_training_samples(cfg, model, params, ["a", "b", "c", "d"], 7,
                                         str(tmp_path), class_rms=[0.1, None, 0.2, 0.0])
  assert sorted(os.path.basename(p) for p in paths) == ["a_000.wav", "c_000.wav"]
  for p, rms in zip(sorted(paths), (0.1, 0.2)):
    audio, _ = sf.read(p)
    assert np.sqrt(np.mean((audio - audio.mean()) ** 2)) == pytest.approx(rms, rel=1e-3)


def tensorboard_events(folder):
  """The Event records of a TensorBoard folder (TFRecord framing: length,
  its CRC, the record, its CRC)."""
  import glob
  import struct
  from tensorboardX.proto import event_pb2
  for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
    data, i = open(path, "rb").read(), 0
    while i + 12 <= len(data):
      n = struct.unpack("<Q", data[i:i + 8])[0]
      event = event_pb2.Event()
      event.ParseFromString(data[i + 12:i + 12 + n])
      yield event
      i += 12 + n + 4


# ---------------------------------------------------------------------------
# the optimizer: element-wise clip to [-grad_clip, grad_clip], then Adam

OPT_MODEL = {"dim": 16, "n_rnn": 1, "emb_size": 8, "seq_len": 64, "batch_size": 4}
ADAM_B1, ADAM_B2, ADAM_EPS = 0.9, 0.999, 1e-8  # optax.adam's defaults


def adam_update(grads, lr):
  """Adam's update after len(grads) steps (bias-corrected), float64, by hand."""
  m = v = 0.0
  for g in grads:
    m = ADAM_B1 * m + (1 - ADAM_B1) * g
    v = ADAM_B2 * v + (1 - ADAM_B2) * g * g
  t = len(grads)
  m_hat, v_hat = m / (1 - ADAM_B1 ** t), v / (1 - ADAM_B2 ** t)
  return -lr * m_hat / (np.sqrt(v_hat) + ADAM_EPS)


def f64_leaves(tree):
  return [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]


def test_gradients_are_clipped_element_wise_then_adam(tiny_config):
  """Two ``steps.train_step`` calls against Adam written out here, on gradients
  clipped element-wise to [-c, c] first, with c the 75th percentile of the
  first step's |gradient| (so a quarter of the elements are clipped, some by
  a factor of ~40); and a step with grad_clip 0, whose Adam moment holds
  the gradient unclipped.

  Adam's first moment after one step is (1 - b1) * (what Adam was given):
  it holds clipped gradients only when the clip comes first. Rules out no
  clipping, the clip after Adam (it would bound the updates, not the
  moments), and a global-norm clip; the second step's update (which, unlike
  the first's, depends on the gradients' sizes, not only their signs) must
  equal the hand-written clip-then-Adam and differ from Adam on unclipped
  gradients. And rules out grad_clip 0 taken as a bound (the clip made
  whenever grad_clip is set: every gradient clipped to 0, a run that never
  learns; no other test trains with 0).
  """
  config = tiny_config(**OPT_MODEL)
  lr = config.learning_rate
  model = config_lib.build_model(config, 4)

  def loss(params, batch):
    h = steps.initial_rnn_state(model, params, config.batch_size)
    bits, count, _ = steps.chunk_cost(model, params, batch, h)
    return bits / count
  grad = jax.jit(jax.grad(loss))
  batch1, batch2 = random_batch(config, 1), random_batch(config, 2)
  params0 = steps.init_params(model, jax.random.key(0), config.seq_len)  # as init_state
  g1 = f64_leaves(grad(params0, batch1))
  clip = float(np.quantile(np.concatenate([np.abs(g).ravel() for g in g1]), 0.75))
  assert max(np.abs(g).max() for g in g1) > 10 * clip > 0  # some far above the clip

  config.grad_clip = clip
  tx = steps.make_optimizer(config)
  state0 = steps.init_state(model, tx, jax.random.key(0), config.batch_size, config.seq_len)
  for a, b in zip(f64_leaves(state0.params), f64_leaves(params0)):
    np.testing.assert_array_equal(a, b)  # the parameters the gradient was taken at
  step = jax.jit(functools.partial(steps.train_step, model, tx))
  state1 = step(state0, batch1)
  state2 = step(state1, batch2)
  g2 = f64_leaves(grad(state1.params, batch2))
  cl = lambda g: np.clip(g, -clip, clip)

  # Adam's moments hold the clipped gradients. Tolerance: my gradient and the
  # step's are float32 from two compilations (measured to differ by ~1e-9;
  # 1e-7 is 2e-5 of the clip bound); unclipped moments would differ by up
  # to 0.1 * (max |g| - c), over 100 times that here.
  mu = f64_leaves(optax.tree_utils.tree_get(state1.opt_state, "mu"))
  nu = f64_leaves(optax.tree_utils.tree_get(state1.opt_state, "nu"))
  assert len(mu) == len(nu) == len(g1)
  for m, v, g in zip(mu, nu, g1):
    np.testing.assert_allclose(m, (1 - ADAM_B1) * cl(g), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(v, (1 - ADAM_B2) * cl(g) ** 2, rtol=1e-4, atol=1e-10)

  # The updates. Tolerance 1e-6 = 1e-3 * lr: float32 rounding of parameters
  # of order 1 (measured deviations ~1.3e-7).
  tol = 1e-6
  u1 = [b - a for a, b in zip(f64_leaves(state0.params), f64_leaves(state1.params))]
  u2 = [b - a for a, b in zip(f64_leaves(state1.params), f64_leaves(state2.params))]
  for u, g in zip(u1, g1):
    np.testing.assert_allclose(u, adam_update([cl(g)], lr), rtol=0, atol=tol)
  for u, a, b in zip(u2, g1, g2):
    np.testing.assert_allclose(u, adam_update([cl(a), cl(b)], lr), rtol=0, atol=tol)

  # grad_clip 0 is "off" (README): Adam is given the gradient itself, not one clipped to 0.
  config.grad_clip = 0.0
  tx = steps.make_optimizer(config)
  state0 = steps.init_state(model, tx, jax.random.key(0), config.batch_size, config.seq_len)
  plain = jax.jit(functools.partial(steps.train_step, model, tx))(state0, batch1)
  mu = f64_leaves(optax.tree_utils.tree_get(plain.opt_state, "mu"))
  for m, g in zip(mu, g1):
    np.testing.assert_allclose(m, (1 - ADAM_B1) * g, rtol=1e-4, atol=1e-7)
  # ... and this setup tells the orders apart: Adam on the raw gradients (with
  # or without a clip of its updates, which are ~lr < c) moves some parameter
  # by more than 100 times the tolerance away from what the step did.
  unclipped = max(np.abs(u - adam_update([a, b], lr)).max() for u, a, b in zip(u2, g1, g2))
  assert clip > lr and unclipped > 100 * tol, (clip, unclipped)


# ---------------------------------------------------------------------------
# train.py as a user runs it


# train.py with the tiny_config fixture's model (the same compiled programs)
SMALL = ["--config.dim=32", "--config.n_rnn=1", "--config.seq_len=64",
         "--config.learning_rate=3e-3"]


def test_train_py_end_to_end(run_python, tiny_config, tmp_path):
  """The tiny config (generated data) for 10 steps through train.py, evaluated
  at 5 and 10: exit 0, the parameter count printed and restored, finite
  train bits at the log steps, test bits exactly when valid improves, the
  curves PNG, TensorBoard events and both checkpoint folders. Learning rate
  0.5, so that valid rises after the first evaluation (measured: 7.30 then
  7.41 bits; at 3e-3 it fell at every step, and test at every evaluation
  was what the run should do). Rules out a script that never reaches the
  trainer's logging or evaluation, test run at every evaluation (or best/
  saved at every one), and outputs (curves, events, best/) not written."""
  workdir = str(tmp_path / "run")
  small = [a for a in SMALL if not a.startswith("--config.learning_rate=")]
  proc = run_python(["train.py", "--config", "configs/tiny.py", *small,
                     "--config.learning_rate=0.5",
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
  # the setup does what it is meant to: valid rises (by more than float noise)
  assert evals[1]["valid_bits"] > evals[0]["valid_bits"] + 0.01, evals
  # test runs when valid improves (always, the first time), and only then
  assert [("test_bits" in r) for r in evals] == [True, False], evals
  assert sorted(os.listdir(os.path.join(workdir, checkpoint.BEST))) == ["5"]

  assert os.path.getsize(os.path.join(workdir, metrics.CURVES_FILE)) > 1000
  with open(os.path.join(workdir, metrics.CURVES_FILE), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert os.path.isdir(os.path.join(workdir, checkpoint.LATEST, "10"))
  assert glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*"))
  params = restored_params(workdir, 10)
  assert trainer.count_params(params) == n


def check_error(proc, *fragments):
  """Exit code 2 and one clear line naming the problem, no traceback: one
  ``error: `` line in stderr, holding every fragment."""
  assert proc.returncode == 2, proc.stdout + proc.stderr
  assert "Traceback" not in proc.stderr, proc.stderr
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
  assert len(errors) == 1, proc.stderr
  for fragment in fragments:
    assert fragment in errors[0], proc.stderr


def test_typo_in_a_config_file_is_an_error(run_python, tmp_path):
  """base_config() is locked: a config file that sets a key it does not have
  (a typo) stops train.py with one line naming the key, where it was set and
  the key meant, exit 2, before anything is written (rules out the typo
  silently adding a key nobody reads, so the run trains with the default)."""
  path = tmp_path / "typo.py"
  path.write_text("from samplernn_jax.config import base_config\n\n\n"
                  "def get_config():\n  c = base_config()\n  c.lerning_rate = 0.1\n"
                  "  return c\n")
  proc = run_python(["train.py", "--config", str(path), "--workdir", str(tmp_path / "run")])
  check_error(proc, "unknown config key 'lerning_rate' (set in the --config file); "
              "did you mean 'learning_rate'?")
  assert not (tmp_path / "run").exists()
  # the same key misspelt on the command line: test_cli.py's unknown_config_key


@pytest.mark.parametrize("body, fragments", [
    ("x = 1\n", ["has no attribute 'get_config'", "(a config file defines get_config())"]),
    ("def get_config():\n  return None.foo\n", ["'NoneType' object has no attribute 'foo'"])])
def test_a_broken_config_file_is_named_not_taken_for_a_key(run_python, tmp_path, body, fragments):
  """A config file without get_config(), or one whose get_config() raises an
  AttributeError of its own: one error line naming the file and the error,
  exit 2. Rules out the misleading "unknown config key 'module'" (or
  'NoneType') these gave when every AttributeError was read as a key."""
  path = tmp_path / "broken.py"
  path.write_text(body)
  proc = run_python(["train.py", "--config", str(path), "--workdir", str(tmp_path / "run")])
  check_error(proc, f"error: --config {path}: ", *fragments)
  assert "unknown config key" not in proc.stderr
  assert not (tmp_path / "run").exists()


def test_train_py_missing_data_file(run_python, tmp_path):
  """train.py with config.data_dir an empty folder: exit 2, no traceback, and stderr names
  <data_dir>/audio_train.npz and 'no such file'. Rules out numpy's FileNotFoundError
  traceback, and a message that does not say which file is missing."""
  empty = tmp_path / "data"
  empty.mkdir()
  proc = run_python(["train.py", "--config", "configs/tiny.py", *SMALL,
                     f"--config.data_dir={empty}", "--workdir", str(tmp_path / "run")])
  check_error(proc, os.path.join(str(empty), "audio_train.npz"), "no such file")


def test_train_py_batch_not_divisible_by_devices(run_python, tmp_path):
  """train.py on 2 (fake CPU) devices with batch_size 3: exit 2, no traceback, and stderr names
  config.batch_size=3 and the 2 devices. Rules out JAX's sharding traceback, and a run that
  goes ahead (exit 0) on an uneven split or on one device."""
  proc = run_python(["train.py", "--config", "configs/tiny.py", *SMALL,
                     "--config.batch_size=3", "--workdir", str(tmp_path / "run")],
                    devices=2)
  check_error(proc, "config.batch_size=3", "2 devices")


def test_resume_with_another_model_class_is_one_clear_error(tiny_config, small_dataset,
                                                            tmp_path, monkeypatch):
  """Resuming a workdir with a model whose parameters differ from the
  checkpoint's while the config is the same (a research variant's class, here
  a stand-in without learned h0 built where the library builds it) is refused
  with one ParamFormatError naming the checkpoint and the parameter, not
  orbax's page of tree metadata; nothing is written. Rules out the raw restore
  error and a partial restore that would drop the extra parameters."""
  from samplernn_jax import config as config_lib
  from samplernn_jax.errors import ParamFormatError
  workdir = str(tmp_path / "run")
  trainer.train_and_evaluate(tiny_config(data_dir=small_dataset, max_steps=2), workdir)
  real = config_lib.build_model
  monkeypatch.setattr(config_lib, "build_model", lambda *a: real(*a).clone(learn_h0=False))
  with pytest.raises(ParamFormatError, match=r"not in the model: .*h0") as err:
    trainer.train_and_evaluate(tiny_config(data_dir=small_dataset, max_steps=4), workdir)
  msg = str(err.value)
  assert msg.startswith(os.path.join(workdir, checkpoint.LATEST, "2") + ":") and "\n" not in msg
  assert sorted(os.listdir(os.path.join(workdir, checkpoint.LATEST))) == ["2"]


def test_a_damaged_metrics_tail_does_not_stop_the_resume(tmp_path, caplog):
  """metrics.jsonl as a host crash can leave it (the last line torn, then NUL
  bytes): the resumed run's writer keeps every whole record up to its step,
  drops the damage with a warning naming the file and line, and writes on.
  Rules out parsing every line strictly: each resume would stop with a JSON
  error that names no file, until the user edits the file by hand."""
  wd = str(tmp_path)
  good = [{"step": s, "train_bits": 8.0 - s / 10} for s in (5, 10)]
  with open(os.path.join(wd, metrics.METRICS_FILE), "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in good) + '{"step": 15, "tra' + "\0" * 64)
  with caplog.at_level("WARNING"):
    writer = metrics.MetricsWriter(wd, resume_step=10)
  assert f"{metrics.METRICS_FILE}:3: not a JSON record, skipped" in caplog.text
  writer.write({"step": 15, "train_bits": 5.0})
  writer.close()
  assert metrics.read_metrics(wd) == good + [{"step": 15, "train_bits": 5.0}]


def test_metrics_of_steps_after_the_resumed_checkpoint_are_dropped(tmp_path):
  """A run killed after step 25's metrics line but resumed from checkpoint 20
  will write steps 21..25 again: the writer of the resumed run keeps the
  lines up to step 20 and drops the later ones, so metrics.jsonl ends as an
  unbroken run's (no step twice), and TensorBoard is told to purge from
  step 21; the new line's train_bits is its TensorBoard scalar at step 25.
  Rules out appending to the old file as it is (the kill tests catch it
  only when a kill lands after such a line), TensorBoard's curves drawing
  the lost steps' points beside the resumed run's, and scalars never
  written or written with "step" as a curve of its own."""
  wd = str(tmp_path)
  old = [{"step": s, "train_bits": 8.0 - s / 10} for s in (5, 10, 15, 20, 25)]
  old.insert(4, {"step": 20, "epoch": 1.0, "valid_bits": 6.5})
  with open(os.path.join(wd, metrics.METRICS_FILE), "w") as f:
    f.write("".join(json.dumps(r) + "\n" for r in old))
  writer = metrics.MetricsWriter(wd, resume_step=20)
  writer.write({"step": 25, "train_bits": 5.0})
  writer.close()
  assert metrics.read_metrics(wd) == old[:5] + [{"step": 25, "train_bits": 5.0}]
  # TensorBoard is told the same: a session start at step 21 hides the old run's later points
  from tensorboardX.proto import event_pb2
  starts = [e.step for e in tensorboard_events(os.path.join(wd, "tensorboard"))
            if e.HasField("session_log") and e.session_log.status == event_pb2.SessionLog.START]
  assert starts == [21]
  # and the record's numbers are its scalars, at its step (not "step" itself)
  scalars = [(e.step, v.tag, v.simple_value)
             for e in tensorboard_events(os.path.join(wd, "tensorboard")) for v in e.summary.value]
  assert scalars == [(25, "train_bits", 5.0)]


def test_a_variants_cost_fn_is_minimised_and_evaluation_keeps_the_bits(tiny_config,
                                                                      small_dataset, tmp_path):
  """``train_and_evaluate(cost_fn=...)``: training minimises the given cost
  (here the bits times 0: no gradient, so the parameters stay at their
  initialisation and train_bits is 0), while evaluation still reports true
  bits (valid_bits those of the initial parameters, far from 0). Rules out
  a cost_fn ignored by the step (the parameters would move), and one used
  by evaluation too (valid_bits 0: the best checkpoint and score.py would
  rank a weighted loss under the name bits)."""
  from samplernn_jax import sample_files
  config = tiny_config(data_dir=small_dataset, max_steps=2, log_every_steps=1,
                       eval_every_steps=2)

  def no_gradient(model, params, batch, carried):
    bits, count, h = steps.chunk_cost(model, params, batch, carried)
    return 0.0 * bits, count, h
  workdir = str(tmp_path / "run")
  trainer.train_and_evaluate(config, workdir, cost_fn=no_gradient)
  rows = metrics.read_metrics(workdir)
  assert [r["train_bits"] for r in rows if "train_bits" in r] == [0.0, 0.0]
  valid = [r["valid_bits"] for r in rows if "valid_bits" in r]
  assert len(valid) == 1 and valid[0] > 4.0
  loaded = sample_files.load_checkpoint(workdir, "latest")
  initial = steps.init_params(loaded.model, jax.random.key(config.seed), config.seq_len)
  jax.tree.map(np.testing.assert_array_equal, loaded.params, initial)


def test_a_variants_own_config_keys_build_train_and_come_back(tiny_config, small_dataset,
                                                              tmp_path):
  """``config.variant``: a variant's own model field (here a logit scale on
  a SampleRNN subclass) set in the config reaches the model, is saved with
  the checkpoint and rebuilt from it by the loader; a resume with another
  value is refused naming the key; a key the class has no field for, or one
  of the library's own, is an error naming it. Rules out variant settings
  kept in class attributes the checkpoint does not record (a change that
  keeps the parameter shapes loaded silently), and a locked config that
  refused them (so did the loader, for keys it did not know)."""
  from samplernn_jax import sample_files
  from samplernn_jax.errors import TrainingError
  from samplernn_jax.model import SampleRNN

  class Scaled(SampleRNN):
    logit_scale: float = 1.0

    def sample_logits(self, prev, upper, cond):
      return self.logit_scale * super().sample_logits(prev, upper, cond)

  config = tiny_config(data_dir=small_dataset, max_steps=2)
  config.variant.logit_scale = 2.0
  workdir = str(tmp_path / "run")
  trainer.train_and_evaluate(config, workdir, model_cls=Scaled)
  loaded = sample_files.load_checkpoint(workdir, "latest", model_cls=Scaled)
  assert loaded.model.logit_scale == 2.0 and loaded.config.variant.to_dict() == {
      "logit_scale": 2.0}
  config.variant.logit_scale, config.max_steps = 3.0, 4
  with pytest.raises(TrainingError, match=r"variant: checkpoint \{'logit_scale': 2.0\} vs "
                     r"config \{'logit_scale': 3.0\}\); use another workdir"):
    trainer.train_and_evaluate(config, workdir, model_cls=Scaled)
  with pytest.raises(ValueError, match="config.variant.logit_scale: the model class "
                     "SampleRNN has no field 'logit_scale'"):
    config_lib.build_model(config, 4)
  config.variant.dim = 8
  with pytest.raises(ValueError, match="config.variant.dim: dim is the library's own field"):
    config_lib.build_model(config, 4, Scaled)
  # a checkpoint saved before config.variant existed had none: a value is a change
  config = tiny_config(data_dir=small_dataset, max_steps=2)
  config.variant.logit_scale = 2.0
  old = {k: v for k, v in config.to_dict().items() if k != "variant"}
  with pytest.raises(TrainingError, match=r"variant: checkpoint \{\} vs config"):
    trainer._check_resume_config(config, {"config": old, "n_classes": 4}, "w", 4)
  # a dict-valued key reaches the class as a mapping (hashable, as module fields must be)
  opts = config_lib._hashable({"a": 1, "b": [2, 3]})
  assert opts["a"] == 1 and opts["b"] == (2, 3) and hash(opts) == hash(config_lib._hashable(
      {"b": (2, 3), "a": 1}))


def test_a_new_runs_seed_must_fit_jaxs_32_bits(tiny_config, small_dataset, tmp_path,
                                               monkeypatch):
  """A fresh run with config.seed 2**32: refused before anything is written
  (JAX's keys keep a seed's low 32 bits, so it would train exactly as seed
  0); a saved config with such a seed (a run started before this check)
  still validates, so its checkpoints load, score and resume. Rules out the
  bound in ``validate``, which made those runs unusable, and the bound
  checked at every start (a resume of such a run refused: here one trained
  with the check switched off, called again at its max_steps)."""
  config = tiny_config(data_dir=small_dataset, seed=2 ** 32)
  config_lib.validate(config)
  workdir = str(tmp_path / "run")
  with pytest.raises(ValueError, match=r"config.seed=4294967296: expected an integer "
                     r"0 .. 2\*\*32 - 1 \(JAX's keys keep 32 bits"):
    trainer.train_and_evaluate(config, workdir)
  assert not os.path.exists(workdir)
  old = str(tmp_path / "old")
  config.max_steps = 2
  with monkeypatch.context() as m:
    m.setattr(config_lib, "check_seed", lambda *a, **k: None)
    trainer.train_and_evaluate(config, old)
  assert checkpoint.restore_params(old, checkpoint.LATEST, 2)[1]["config"]["seed"] == 2 ** 32
  assert trainer.train_and_evaluate(config, old) == {}  # resumed: nothing left to do
