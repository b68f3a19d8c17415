"""Failure and recovery (issue #10): kills, NaN, locks, refused configs, full disks.

Every training run here is the tiny model (dim 16, one GRU, chunks of 64
samples, batch 4) on the synthetic data. One unbroken reference run (60 steps,
a checkpoint every 5, evaluations at 30 and 60) is made once per module; the
other tests copy its workdir or compare with it. This module's runs, in this
process and in child processes, share a JAX persistent compilation cache (a
folder of the module's tmp dir, set for the module and restored after it), so
a restart costs little more than its imports; a cached executable is the one
the reference ran, so numbers stay identical.
"""
import asyncio
import contextlib
import errno
import functools
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections import namedtuple

import jax
import numpy as np
import pytest
import soundfile as sf

from conftest import (REPO, load_config_file, load_sample_py, random_batch, snapshot,
                      subprocess_env)
from samplernn_jax import checkpoint, data, metrics, run_status, steps, trainer
from samplernn_jax import config as config_lib
from samplernn_jax import workdir as workdir_lib
from samplernn_jax.errors import DataError

TINY = {"dim": 16, "n_rnn": 1, "emb_size": 8, "seq_len": 64, "batch_size": 4}
RUN = dict(TINY, max_steps=60, checkpoint_every_steps=5, log_every_steps=5,
           eval_every_steps=30, max_eval_clips=4)
TMP_MARK = "tmp"  # orbax writes <step>.orbax-checkpoint-tmp* first, then renames

Reference = namedtuple("Reference", "workdir params best_params metrics steps")


def train_cmd(workdir, **overrides):
  flags = [f"--config.{k}={v}" for k, v in dict(RUN, **overrides).items()]
  return [sys.executable, os.path.join(REPO, "train.py"), "--config",
          os.path.join(REPO, "configs", "tiny.py"), *flags, f"--workdir={workdir}"]


def make_config(**overrides):
  c = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  for k, v in dict(RUN, **overrides).items():
    c[k] = v
  return c


def listing(folder):
  try:
    return os.listdir(folder)
  except FileNotFoundError:
    return []


def workdir_files(wd):
  """``conftest.snapshot`` of a workdir but its lock file (which a refused
  run takes and gives back)."""
  return snapshot(wd, skip=(workdir_lib.LOCK_FILE,))


def complete_steps(folder):
  """Steps of the finished checkpoints in a manager folder (temporaries excluded)."""
  return sorted(int(n) for n in listing(folder) if n.isdigit())


def wait_for_writes(folder, timeout=30):
  """Waits until no temporary checkpoint is left in ``folder`` (a run that
  raised does not wait for its background saves)."""
  deadline = time.monotonic() + timeout
  while any(TMP_MARK in n for n in listing(folder)) and time.monotonic() < deadline:
    time.sleep(0.05)


def read_text(path):
  with open(path) as f:
    return f.read()


def assert_trees_equal(got, want):
  got_leaves, got_def = jax.tree.flatten(got)
  want_leaves, want_def = jax.tree.flatten(want)
  assert got_def == want_def
  for g, w in zip(got_leaves, want_leaves):
    np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def copy_reference(reference, tmp_path):
  dst = str(tmp_path / "run")
  shutil.copytree(reference.workdir, dst)
  return dst


@pytest.fixture(scope="module")
def cache_env():
  """The environment of a child train.py: the session's compilation cache
  (conftest.py) is on there too."""
  return subprocess_env()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """The unbroken run: 60 steps in one go."""
  wd = str(tmp_path_factory.mktemp("reference") / "run")
  trainer.train_and_evaluate(make_config(), wd)
  params, _ = checkpoint.restore_params(wd, checkpoint.LATEST, 60)
  best, _ = checkpoint.restore_params(wd, checkpoint.BEST, 60)
  return Reference(wd, params, best, metrics.read_metrics(wd),
                   complete_steps(os.path.join(wd, checkpoint.LATEST)))


def run_and_kill(cmd, env, log_path, trigger, timeout=300):
  """Starts ``cmd``, SIGKILLs it as soon as ``trigger()`` is true; (rc, output)."""
  with open(log_path, "w") as log:
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
  try:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not trigger():
      assert time.monotonic() < deadline, f"no kill moment within {timeout} s"
      time.sleep(0.001)
    if proc.poll() is None:
      os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()
  with open(log_path) as f:
    return proc.returncode, f.read()


def after(condition, delay):
  """A trigger: ``condition()`` held, then ``delay`` seconds passed."""
  seen = []

  def trigger():
    if not seen and condition():
      seen.append(time.monotonic())
    return bool(seen) and time.monotonic() - seen[0] >= delay
  return trigger


# ---------------------------------------------------------------------------
# SIGKILL at any moment


def test_kill_at_any_moment_resumes_exactly(tmp_path, reference, cache_env, capsys):
  """Three SIGKILLs (a random moment, in the middle of a checkpoint write, as
  the evaluation's checkpoints appear), each followed by a restart; the final
  parameters and metrics.jsonl equal the unbroken run's exactly. Rules out
  a resume from a half-written checkpoint, a data order or PRNG key not
  restored with the step, metrics lines of killed steps kept twice, and a
  temporary folder taken for a complete step."""
  wd = str(tmp_path / "run")
  latest, best = os.path.join(wd, checkpoint.LATEST), os.path.join(wd, checkpoint.BEST)
  rng = random.Random(20261125)
  cmd = train_cmd(wd)

  def mid_write(start):
    # A temporary checkpoint folder newer than the restored step; if none is
    # seen before 20 more steps are saved, kill there anyway.
    left = set(listing(latest))  # temporaries of earlier kills do not count

    def cond():
      tmp = [n for n in listing(latest) if TMP_MARK in n and n not in left]
      return bool(tmp) or max(complete_steps(latest) or [0]) >= start + 20
    return after(cond, 0.0)

  def at_evaluation(start):
    # The first new best/<step>: the latest checkpoint of that step is being written.
    known = set(complete_steps(best))
    return after(lambda: bool(set(complete_steps(best)) - known), 0.0)

  def random_moment(start):
    return after(lambda: max(complete_steps(latest) or [0]) > start, rng.uniform(0.0, 0.3))

  resumed_from = None  # what each restart must say it resumed from
  half_written = []  # temporary checkpoint folders that kills left behind
  for i, make_trigger in enumerate((random_moment, mid_write, at_evaluation)):
    start = resumed_from or 0
    before = set(listing(latest))
    rc, out = run_and_kill(cmd, cache_env, str(tmp_path / f"log{i}.txt"), make_trigger(start))
    assert rc == -signal.SIGKILL, f"run {i} was not killed (exit {rc}):\n{out[-3000:]}"
    half_written += [n for n in set(listing(latest)) - before if TMP_MARK in n]
    if resumed_from is None:
      assert "resumed from" not in out
    else:
      assert f"resumed from {latest}/{resumed_from}\n" in out, out[-3000:]
    done = complete_steps(latest)
    assert done, f"run {i} left no complete checkpoint: {listing(latest)}"
    resumed_from = done[-1]  # the newest complete checkpoint after the kill

  assert half_written, "no kill fell inside a checkpoint write"
  capsys.readouterr()
  trainer.train_and_evaluate(make_config(), wd)  # the last restart, to the end
  assert f"resumed from {latest}/{resumed_from}\n" in capsys.readouterr().out
  params, _ = checkpoint.restore_params(wd, checkpoint.LATEST, 60)
  assert_trees_equal(params, reference.params)
  best_params, _ = checkpoint.restore_params(wd, checkpoint.BEST, 60)
  assert_trees_equal(best_params, reference.best_params)
  assert metrics.read_metrics(wd) == reference.metrics
  assert complete_steps(latest) == reference.steps


SIGNAL_CHILD = """
import os, signal, sys, time
from samplernn_jax import cli, signals
first, gap, second = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])

def body():
  with signals.StopRequests() as stop:
    os.kill(os.getpid(), first)
    time.sleep(gap)
    os.kill(os.getpid(), second)
    time.sleep(0.5)
  return stop.requested
try:
  requested = cli.run(body) if sys.argv[4] == "script" else body()
except signals.QuitNow as e:
  print("raised QuitNow", e.args[0])
  raise SystemExit(0)
print("went on; requested", requested)
"""


@pytest.mark.parametrize("caller", ["script", "python"])
@pytest.mark.parametrize("first,gap,second,quits", [
    (signal.SIGINT, 1.3, signal.SIGINT, True),    # a second Ctrl-C: quit now
    (signal.SIGINT, 0.0, signal.SIGINT, False),   # one Ctrl-C delivered twice
    (signal.SIGTERM, 1.3, signal.SIGTERM, False),  # a scheduler's repeated notice
    (signal.SIGTERM, 1.3, signal.SIGINT, True),
    (signal.SIGINT, 1.3, signal.SIGTERM, False),  # a scheduler's notice after a Ctrl-C
])
def test_a_second_ctrl_c_quits_at_once_but_a_repeated_notice_does_not(first, gap, second, quits,
                                                                      caller):
  """``signals.StopRequests``: a second SIGINT a second or more after the
  first signal stops at once, saying it saves nothing: in a script
  (``cli.run``, which enters ``quitting_the_process``) it ends the process (exit
  130), called from Python (a notebook) it raises ``QuitNow`` (130) and the
  process lives on; for a user who will not wait or a run whose peer
  hangs. Two SIGINTs together (a terminal's and a launcher's copy of one
  Ctrl-C) and a repeated SIGTERM (SLURM signals a task directly and through
  srun) only stop at the next safe point, keeping the first signal. Rules
  out every signal after the first ignored (the old handler: a hung run of
  several processes could not be stopped by Ctrl-C), a quit on a duplicate,
  the last signal kept instead of the first (a Ctrl-C then a scheduler's
  SIGTERM would exit 143 and report SIGTERM), and a notebook's kernel ended
  by os._exit."""
  proc = subprocess.run([sys.executable, "-c", SIGNAL_CHILD, str(int(first)), str(gap),
                         str(int(second)), caller], cwd=REPO, env=subprocess_env(),
                        capture_output=True, text=True, timeout=60)
  if quits and caller == "script":
    assert proc.returncode == 130 and proc.stdout == "", proc.stderr
    assert "second Ctrl-C: quitting at once, without saving" in proc.stderr
  elif quits:
    assert proc.returncode == 0 and proc.stdout == "raised QuitNow 130\n", proc.stderr
    assert "second Ctrl-C: stopping at once, without saving" in proc.stderr
  else:
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"went on; requested {int(first)}\n"
  assert ("Ctrl-C: stopping at the next safe point" in proc.stderr) == (first == signal.SIGINT)


def closes_recorded(monkeypatch) -> list:
  """The closes of the checkpoint managers and the metrics writer, recorded."""
  closed = []
  for cls, name in ((trainer.Checkpointer, "checkpoints"), (metrics.MetricsWriter, "writer")):
    def close(self, real=cls.close, name=name):
      closed.append(name)
      real(self)
    monkeypatch.setattr(cls, "close", close)
  return closed


def test_a_failed_start_closes_the_checkpoint_managers_and_writer(tmp_path, monkeypatch):
  """A start that fails after the checkpoint managers and the TensorBoard
  writer are open (Ctrl-C during the pass that measures the class levels)
  closes both before the error goes on. Rules out the start as it was, with
  no cleanup: each failed call of train_and_evaluate in one process (a
  notebook) left one more writer thread and event file open."""
  closed = closes_recorded(monkeypatch)

  def interrupted(*args, **kwargs):
    raise KeyboardInterrupt
  monkeypatch.setattr(trainer.levels, "class_rms", interrupted)
  with pytest.raises(KeyboardInterrupt):
    trainer.train_and_evaluate(make_config(max_steps=2), str(tmp_path / "run"))
  assert sorted(closed) == ["checkpoints", "writer"]


def test_a_stop_whose_save_fails_closes_what_the_run_opened(tmp_path, monkeypatch):
  """SIGTERM, then the stop's own save refused (a state that saw a non-finite
  step, a full disk): the TrainingError goes on, after the earlier
  background saves finished and the writer closed. Rules out the stop's
  save made outside the error path (no close: the workdir's lock released
  while a save could still be writing)."""
  closed = closes_recorded(monkeypatch)

  def one_step_then_sigterm(self, stop, bar):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)  # the handler runs here
    return {}

  def refused(self, state, *args, **kwargs):
    raise trainer.TrainingError("loss or gradients not finite at step 1 (faked)")
  monkeypatch.setattr(trainer._Run, "run_steps", one_step_then_sigterm)
  monkeypatch.setattr(trainer.Checkpointer, "save", refused)
  with pytest.raises(trainer.TrainingError, match="faked"):
    trainer.train_and_evaluate(make_config(max_steps=2), str(tmp_path / "run"))
  assert sorted(closed) == ["checkpoints", "writer"]


@pytest.mark.parametrize("caller", ["script", "python"])
@pytest.mark.parametrize("during", ["the stop's save", "a step"])
def test_a_second_ctrl_c_during_the_stops_save_quits_at_once(tmp_path, monkeypatch, caller,
                                                              during):
  """Ctrl-C stops the run; a second one while the stop's own checkpoint is
  being saved (what a user told 'press it again to quit at once' does), or
  while a step runs, reaches the stop handler, which in train.py quits
  (``os._exit``, faked here) and from Python (a notebook) raises
  ``signals.QuitNow`` out of ``train_and_evaluate`` with the checkpoint
  managers and the writer closed and no save of its own. Rules out the save
  made after the handlers were put back, where the second Ctrl-C was a
  KeyboardInterrupt with a traceback and an unknown save; a QuitNow that
  skips the closes (each one left a writer thread in the kernel); and a
  QuitNow inside a step taken for a first Ctrl-C there (saved, then
  SystemExit(130), which a notebook shows as an exit)."""
  from samplernn_jax import signals

  class Quit(BaseException):
    pass

  def exit_now(code):
    raise Quit(code)
  monkeypatch.setattr(signals.os, "_exit", exit_now)
  monkeypatch.setattr(signals, "FORCE_AFTER_S", 0.0)
  closed, saves = closes_recorded(monkeypatch), []

  def one_step_then_ctrl_c(self, stop, bar):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)
    if during == "a step":
      os.kill(os.getpid(), signal.SIGINT)
      time.sleep(0.05)  # the handler runs here
    return {}

  def save_and_ctrl_c(self, state):
    saves.append(int(state.step))
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # the handler runs here
  monkeypatch.setattr(trainer._Run, "run_steps", one_step_then_ctrl_c)
  monkeypatch.setattr(trainer.Checkpointer, "save", save_and_ctrl_c)
  old = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with (signals.quitting_the_process() if caller == "script" else contextlib.nullcontext()):
      with pytest.raises(Quit if caller == "script" else signals.QuitNow) as quit_:
        trainer.train_and_evaluate(make_config(max_steps=2), str(tmp_path / "run"))
  finally:
    signal.signal(signal.SIGINT, old)
  assert quit_.value.args == (130,)
  assert sorted(closed) == ([] if caller == "script" else ["checkpoints", "writer"])
  assert saves == ([0] if during == "the stop's save" else [])
  if caller == "python":
    assert run_status.read(str(tmp_path / "run"))["state"] == "quit"


def test_sigterm_saves_the_current_step_and_resume_exactly(tmp_path, reference, cache_env,
                                                          capsys):
  """SIGTERM (what schedulers send before preemption) to train.py at a
  random moment after the first checkpoint: the run finishes the step it is
  in, saves it (the newest checkpoint is the step its message names), and
  exits with 128 + the signal; the resumed run ends with the unbroken run's
  parameters and metrics. Rules out a signal lost inside library code or
  the script's own wiring (the handler installed where train.py never
  runs). SIGINT, the same handler, and a stop that does not save: the test
  below, whose signal always lands between checkpoints."""
  sig = signal.SIGTERM
  wd = str(tmp_path / "run")
  latest = os.path.join(wd, checkpoint.LATEST)
  rng = random.Random(int(sig))
  with open(tmp_path / "log.txt", "w") as log:
    proc = subprocess.Popen(train_cmd(wd), cwd=REPO, env=cache_env, stdout=log,
                            stderr=subprocess.STDOUT)
  try:
    deadline = time.monotonic() + 300
    while not complete_steps(latest) and proc.poll() is None:
      assert time.monotonic() < deadline
      time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.05))
    assert proc.poll() is None, "the run ended before the signal"
    os.kill(proc.pid, sig)
    proc.wait(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()
  out = read_text(tmp_path / "log.txt")
  assert proc.returncode == 128 + int(sig), out[-3000:]
  stopped = complete_steps(latest)[-1]
  assert f"{signal.Signals(sig).name} at step {stopped}; saved" in out, out[-3000:]
  capsys.readouterr()
  trainer.train_and_evaluate(make_config(), wd)
  assert f"resumed from {latest}/{stopped}\n" in capsys.readouterr().out
  params, _ = checkpoint.restore_params(wd, checkpoint.LATEST, 60)
  assert_trees_equal(params, reference.params)
  assert metrics.read_metrics(wd) == reference.metrics


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_between_checkpoints_saves_that_step(tmp_path, reference, capsys,
                                                    monkeypatch, sig):
  """SIGTERM or SIGINT (Ctrl-C) raised in this process while step 7 is
  fetched (a checkpoint every 5 steps): the run finishes that step, saves
  checkpoints/8 (no periodic save lands there), exits with 128 + the signal,
  and the resumed run ends as the unbroken one. The subprocess test above
  sends the signal at a random moment, which on a loaded machine often lands
  at a periodic checkpoint's save and then cannot tell a stop that saves
  from one that does not; this one always can. Rules out a stop that exits
  without saving (the steps since the last periodic checkpoint lost, the
  message naming a step that is not on disk; SIGTERM's default is to die),
  and SIGINT left to raise KeyboardInterrupt mid-step. ``status.json``
  says ``stopped`` at step 8 by that signal, then ``finished`` at 60 with
  the best valid bits (rules out a status file that cannot tell a stopped
  run from a finished one)."""
  from samplernn_jax import batches as batches_lib
  wd = str(tmp_path / "run")
  real_get = batches_lib.TrainBatches.get

  def get(self, step):
    if step == 7:
      signal.raise_signal(sig)  # trainer's StopRequests records it
    return real_get(self, step)

  monkeypatch.setattr(batches_lib.TrainBatches, "get", get)
  with pytest.raises(SystemExit) as e:
    trainer.train_and_evaluate(make_config(), wd)
  assert e.value.code == 128 + sig
  assert complete_steps(os.path.join(wd, checkpoint.LATEST))[-1] == 8
  assert f"{signal.Signals(sig).name} at step 8; saved" in capsys.readouterr().out
  status = run_status.read(wd)
  assert (status["state"], status["step"], status["signal"]) == (
      "stopped", 8, signal.Signals(sig).name)
  monkeypatch.setattr(batches_lib.TrainBatches, "get", real_get)
  trainer.train_and_evaluate(make_config(), wd)
  params, _ = checkpoint.restore_params(wd, checkpoint.LATEST, 60)
  assert_trees_equal(params, reference.params)
  assert metrics.read_metrics(wd) == reference.metrics
  status = run_status.read(wd)
  assert (status["state"], status["step"], status["pid"]) == ("finished", 60, os.getpid())
  assert status["best_valid_bits"] == min(r["valid_bits"] for r in reference.metrics
                                          if "valid_bits" in r)


def test_kill_between_best_and_latest_save_resumes(tmp_path, reference, capsys):
  """At an evaluation the best checkpoint is saved before the latest one; a
  kill between the two leaves best/60 complete and checkpoints/60 temporary.
  The restart resumes from 55, redoes step 60 (and its evaluation) and ends
  as the unbroken run. Rules out a resume from best/ (it holds no optimizer
  state), the temporary checkpoints/60 taken for a step, and step 60's
  metrics written twice."""
  wd = copy_reference(reference, tmp_path)
  latest = os.path.join(wd, checkpoint.LATEST)
  os.rename(os.path.join(latest, "60"), os.path.join(latest, "60.orbax-checkpoint-tmp"))
  trainer.train_and_evaluate(make_config(), wd)
  assert f"resumed from {latest}/55\n" in capsys.readouterr().out
  params, _ = checkpoint.restore_params(wd, checkpoint.LATEST, 60)
  assert_trees_equal(params, reference.params)
  assert metrics.read_metrics(wd) == reference.metrics


# ---------------------------------------------------------------------------
# a non-finite loss


def nan_batches_from(k):
  """``TrainBatches.get`` whose batches make the loss NaN from step ``k``
  (0-based) on: their mask is NaN. The jitted step is the reference's."""
  original = data.TrainBatches.get

  def get(self, step):
    batch = original(self, step)
    return dict(batch, mask=batch["mask"] * np.nan) if step >= k else batch
  return get


@pytest.mark.parametrize("log_every, checkpoint_every, bad", [
    (2, 2, 5),   # a checkpoint at every log
    (4, 2, 5),   # a checkpoint falls between the NaN step and the next log
    (2, 1000, 1),  # no checkpoint before it
])
def test_nonfinite_loss_stops_and_resume_finishes(tmp_path, monkeypatch, capsys, log_every,
                                                 checkpoint_every, bad):
  """The run stops naming the bad step and whether a checkpoint is there to
  resume from, no checkpoint holds a step after it, and the same workdir
  resumes with a lower learning rate to the end, saying which settings
  changed. Rules out the message promising "the last good checkpoint" of a
  run that saved none, and a resume that changes the learning rate
  unsaid."""
  wd = str(tmp_path / "run")
  config = make_config(max_steps=10, log_every_steps=log_every,
                       checkpoint_every_steps=checkpoint_every, eval_every_steps=1000,
                       max_eval_clips=4)
  monkeypatch.setattr(data.TrainBatches, "get", nan_batches_from(bad))
  with pytest.raises(trainer.TrainingError) as err:
    trainer.train_and_evaluate(config, wd)
  assert f"not finite at step {bad};" in str(err.value)
  wait_for_writes(os.path.join(wd, checkpoint.LATEST))
  # checkpoints/<s> holds the state after s steps; step `bad` (0-based) is the
  # one that goes from state `bad` to `bad + 1`: nothing later may be saved.
  saved = complete_steps(os.path.join(wd, checkpoint.LATEST))
  assert all(s <= bad for s in saved), (
      f"checkpoints {saved} hold steps after the non-finite step {bad}")
  assert bool(saved) == (checkpoint_every < bad)
  assert (("The last good checkpoint in" in str(err.value)) == bool(saved)
          and ("No checkpoint was saved before it" in str(err.value)) == (not saved))
  status = run_status.read(wd)
  assert status["state"] == "failed" and f"not finite at step {bad};" in status["error"]
  assert all(r["step"] <= bad for r in metrics.read_metrics(wd))

  monkeypatch.undo()  # the real data; the same workdir, a lower learning rate
  config.learning_rate = 3e-4
  capsys.readouterr()
  last = trainer.train_and_evaluate(config, wd)
  out = capsys.readouterr().out
  if saved:
    assert f"resumed from {wd}/{checkpoint.LATEST}/{saved[-1]}\n" in out
    assert ("resumed with other settings than the checkpoint's: learning_rate 0.001 -> "
            "0.0003\n") in out
  assert last["step"] == 10 and np.isfinite(last["train_bits"])
  assert complete_steps(os.path.join(wd, checkpoint.LATEST))[-1] == 10


def poisoned_cotangent(value):
  """The identity, whose backward pass puts ``value`` into the first element
  of the cotangent (the rest passes through)."""
  @jax.custom_vjp
  def f(x):
    return x

  def bwd(_, g):
    return (g.reshape(-1).at[0].set(value).reshape(g.shape),)
  f.defvjp(lambda x: (x, None), bwd)
  return f


POISONED_PARAM = "['sample_tier']['output']['bias']"


class GradPoisoned:
  """A model whose ``apply`` passes one parameter through
  ``poisoned_cotangent``: the forward pass (so the loss) is the model's own,
  and one element of that parameter's gradient is ``value``."""

  def __init__(self, model, value, path=POISONED_PARAM):
    self._model, self._path, self._poison = model, path, poisoned_cotangent(value)

  def __getattr__(self, name):  # frame_sizes, n_classes...: the model's
    return getattr(self._model, name)

  def apply(self, variables, *args, **kwargs):
    params = jax.tree_util.tree_map_with_path(
        lambda p, x: self._poison(x) if jax.tree_util.keystr(p) == self._path else x,
        variables["params"])
    return self._model.apply({"params": params}, *args, **kwargs)


def test_a_batch_or_length_of_the_wrong_shape_is_named():
  """A chunk without its frame of context (T samples, not T + S: its mask
  no longer fits), one whose targets are not whole top frames, a mask of
  another length, a chunk of the context frame alone (no target), and
  ``init_params`` of a length that is not whole top frames: a ValueError
  naming the array or setting and the shape expected. Rules out the raw
  broadcast and reshape errors from inside the model that a library user
  met instead (and a check that misses one of the five), and one that
  refuses a length of exactly one top frame."""
  config = make_config()
  model = config_lib.build_model(config, 4)
  top = model.frame_sizes[0]
  params = steps.init_params(model, jax.random.key(0), config.seq_len)
  good = random_batch(config, 0)
  carried = steps.initial_rnn_state(model, params, config.batch_size)
  cases = [(dict(good, chunk=good["chunk"][:, top:]),  # whole frames still: the mask is off
            r"batch\['mask'\] of shape \(\d+, 64\): expected \[\d+, 48\]"),
           (dict(good, chunk=good["chunk"][:, 1:], mask=good["mask"][:, 1:]),
            r"batch\['chunk'\] of shape .*: expected \[B, T \+ \d+\] with T a positive multiple"),
           (dict(good, mask=good["mask"][:, top:]), r"batch\['mask'\] of shape .*: expected"),
           (dict(good, chunk=good["chunk"][:, :top], mask=good["mask"][:, :0]),  # no target
            r"batch\['chunk'\] of shape .*: expected \[B, T \+ \d+\] with T a positive multiple")]
  for batch, pattern in cases:
    with pytest.raises(ValueError, match=pattern):
      steps.chunk_cost(model, params, batch, carried)
  bits, count, _ = steps.chunk_cost(model, params, good, carried)
  assert np.isfinite(float(bits)) and float(count) == good["mask"].size
  with pytest.raises(ValueError, match=rf"seq_len={config.seq_len + 1}: expected a positive "
                     rf"multiple of the top frame size {top}"):
    steps.init_params(model, jax.random.key(0), config.seq_len + 1)
  # one top frame is the shortest length, and gives the same parameters
  assert_trees_equal(steps.init_params(model, jax.random.key(0), top), params)


@pytest.mark.parametrize("value,path", [
    (np.inf, POISONED_PARAM),
    (np.nan, "['sample_tier']['embedding']"),  # the first leaf
    (np.nan, "['tier0']['rnn0']['recurrent_gates']['scale']"),  # the last, in the frame tier
])
def test_finite_loss_with_a_nonfinite_gradient_changes_nothing(value, path):
  """One element of one parameter's gradient is NaN (or inf) while the loss
  is finite: the step leaves the parameters, Adam's state and the carried
  RNN state exactly as they were, adds nothing to the train bits' sum nor
  to their count (a mean over finite steps), and ``nonfinite_step`` records
  it; the poisoned element is in the first leaf, one in the middle, or the
  last (in the frame tier). Rules out a check of the loss alone (Adam
  would spread the NaN into the parameters), a check that misses inf, or
  one that looks at only some leaves (one tier's, or all but the first or
  the last)."""
  config = make_config()
  model = config_lib.build_model(config, 4)
  poisoned = GradPoisoned(model, value, path)
  tx = steps.make_optimizer(config)
  good_step = jax.jit(functools.partial(steps.train_step, model, tx))
  bad_step = jax.jit(functools.partial(steps.train_step, poisoned, tx))
  state0 = steps.init_state(model, tx, jax.random.key(0), config.batch_size, config.seq_len)
  state1 = good_step(state0, random_batch(config, 1, reset=True))  # Adam moments, a carried state
  batch = random_batch(config, 2, reset=False)  # continues the carried state

  # What the poisoned step sees: a finite loss, exactly one non-finite gradient element.
  def loss_fn(params):
    bits, count, _ = steps.chunk_cost(poisoned, params, batch, state1.rnn_state)
    return bits / count
  loss, grads = jax.jit(jax.value_and_grad(loss_fn))(state1.params)
  assert np.isfinite(float(loss))
  assert sum(int((~np.isfinite(np.asarray(g))).sum()) for g in jax.tree.leaves(grads)) == 1

  after = bad_step(state1, batch)
  assert_trees_equal(after.params, state1.params)
  assert_trees_equal(after.opt_state, state1.opt_state)
  assert_trees_equal(after.rnn_state, state1.rnn_state)
  assert int(after.step) == 2 and int(after.nonfinite_step) == 1
  assert float(after.bits_sum) == float(state1.bits_sum)
  assert float(after.bits_count) == float(state1.bits_count)  # the mean stays the finite steps'
  # The same step without the poison changes all three (so "unchanged" above
  # is the guard's doing), and records nothing.
  normal = good_step(state1, batch)
  for field in ("params", "opt_state", "rnn_state"):
    pairs = zip(jax.tree.leaves(getattr(normal, field)), jax.tree.leaves(getattr(state1, field)))
    assert any(not np.array_equal(a, b) for a, b in pairs), field
  assert int(normal.nonfinite_step) == -1


# ---------------------------------------------------------------------------
# one run per workdir, and compatible configs only


def test_second_run_on_a_workdir_is_refused_until_the_first_dies(tmp_path, cache_env):
  """While a train.py holds the workdir (.lock reads '<pid> on <host>'), a second train.py on it
  exits 2 with the one error line naming the workdir and the holder, no traceback, and the
  first keeps running; once the first is SIGKILLed a new lock is taken at once. Rules out two
  runs training into one workdir, a refused run that stops the first, and a lock a killed run
  leaves held (a lock file's existence instead of the kernel's flock)."""
  wd = str(tmp_path / "run")
  lock = os.path.join(wd, workdir_lib.LOCK_FILE)
  with open(tmp_path / "first.txt", "w") as log:
    first = subprocess.Popen(train_cmd(wd, max_steps=100000), cwd=REPO, env=cache_env,
                             stdout=log, stderr=subprocess.STDOUT)
  try:
    deadline = time.monotonic() + 120
    holder = f"{first.pid} on {socket.gethostname()}"
    while not (os.path.exists(lock) and read_text(lock) == holder):
      assert first.poll() is None, read_text(tmp_path / "first.txt")[-3000:]
      assert time.monotonic() < deadline, "the first run never took the lock"
      time.sleep(0.05)
    second = subprocess.run(train_cmd(wd), cwd=REPO, env=cache_env, capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 2, second.stderr[-3000:]
    errors = [l for l in second.stderr.splitlines() if l.startswith("error:")]
    assert errors == [f"error: workdir={wd} is in use by another run (pid {holder}); "
                      "wait for it to end or use another workdir"]
    assert "Traceback" not in second.stderr
    assert first.poll() is None  # the refused run did not disturb the first
  finally:
    if first.poll() is None:
      os.kill(first.pid, signal.SIGKILL)
    first.wait()
  assert first.returncode == -signal.SIGKILL
  # The kernel dropped the dead run's flock: a new run takes the lock.
  with workdir_lib.WorkdirLock(wd):
    assert read_text(lock) == f"{os.getpid()} on {socket.gethostname()}"


def test_a_released_workdir_is_free_for_the_same_process(tmp_path):
  """Leaving a WorkdirLock's ``with`` drops its flock: a notebook that
  trains, then trains on (a resume) in the same process takes the workdir
  again, while a second lock taken as the first is held is refused. Rules
  out a release that keeps the lock file open (its flock would refuse the
  process's own next run while anything, such as a notebook's last
  traceback, still refers to the old lock)."""
  wd = str(tmp_path / "run")
  first = workdir_lib.WorkdirLock(wd)  # kept referenced, as a traceback would
  with first:
    with pytest.raises(workdir_lib.WorkdirError, match="is in use by another run"):
      workdir_lib.WorkdirLock(wd).acquire()
  with workdir_lib.WorkdirLock(wd):
    assert read_text(os.path.join(wd, workdir_lib.LOCK_FILE)) == workdir_lib.holder_name()


def test_a_file_where_a_folder_belongs_is_named(tmp_path):
  """--out or --workdir naming a file: one error saying it is a file, and
  the file untouched. Rules out the OS's bare 'cannot create or open it
  (File exists)', which sends the user looking for a folder."""
  f = tmp_path / "afile"
  f.write_text("mine")
  with pytest.raises(workdir_lib.WorkdirError, match=r"^out=.*afile is a file, not a folder"):
    with workdir_lib.held_folder(str(f), "out"):
      pass
  with pytest.raises(workdir_lib.WorkdirError, match=r"^workdir=.*afile is a file, not a folder"):
    workdir_lib.WorkdirLock(str(f)).acquire()
  assert f.read_text() == "mine"


def test_a_file_given_for_a_folder_to_read_is_called_a_file(tmp_path):
  """A file where a folder is read (data_dir, a workdir to sample or score,
  a folder to pack, generated clips to evaluate): each error says it is a
  file, not that there is no such folder. Rules out 'no such folder' for a
  path that plainly exists, and each of the places left on the old text."""
  from samplernn_jax import cost, packing, sample_files
  from samplernn_jax.evaluation import run as eval_run
  from samplernn_jax.evaluation import samples as eval_samples
  f = str(tmp_path / "afile")
  open(f, "w").write("mine")
  calls = [lambda: data.open_dataset(f), lambda: sample_files.load_checkpoint(f),
           lambda: cost.score(f, f), lambda: packing.pack_folder(f, str(tmp_path / "o1")),
           lambda: packing.pack_dcase2016(f, str(tmp_path / "o2")),
           lambda: eval_samples.read_samples(f, ["a"], 16000),
           lambda: eval_run.evaluate(str(tmp_path), f, out_dir=str(tmp_path / "e1")),
           lambda: eval_run.evaluate(f, str(tmp_path), out_dir=str(tmp_path / "e2"))]
  for call in calls:
    with pytest.raises(Exception, match="afile'?: is a file, not a folder") as e:
      call()
    assert "no such" not in str(e.value)
  assert open(f).read() == "mine"


def test_a_start_refused_before_any_work_leaves_no_folder(tmp_path):
  """A run whose config or data is refused at the start (here a data_dir
  that does not exist) leaves no workdir behind when it made it, and keeps
  a workdir that was there before. Rules out the empty
  run folder holding only .lock that a mistyped config used to leave, and a
  clean-up that removes a folder the run did not make."""
  config = make_config(max_steps=1)
  config.data_dir = str(tmp_path / "no_such_data")
  wd = tmp_path / "runs" / "new"
  with pytest.raises(DataError, match=r"no_such_data'?: no such folder \(expected one "
                     r"holding audio_train\.npz or class folders .* or synthetic"):
    trainer.train_and_evaluate(config, str(wd))
  assert not wd.exists() and (tmp_path / "runs").is_dir()
  old = tmp_path / "old"
  old.mkdir()
  with pytest.raises(DataError):
    trainer.train_and_evaluate(config, str(old))
  assert old.is_dir()  # was there: kept (with the lock file it now holds)


def test_an_eval_batch_the_devices_cannot_split_is_refused_before_the_workdir(tmp_path):
  """On 2 devices, ``eval_batch_size`` 3 (``batch_size`` 4 divides): train.py
  exits 2 with one line naming the setting, and the workdir it would have
  made is not there. Rules out the check made only when the evaluator is
  built, after config.json, metrics.jsonl and the checkpoint folders were
  written (a resume on another device count rewrote config.json for a run
  that never started)."""
  wd = tmp_path / "run"
  proc = subprocess.run(train_cmd(str(wd), batch_size=4, eval_batch_size=3), cwd=REPO,
                        env=subprocess_env(devices=2), capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert [l for l in proc.stderr.splitlines() if l.startswith("error:")] == [
      "error: config.eval_batch_size=3 does not divide by the 2 devices (cpu); "
      "use a multiple of 2"]
  assert not wd.exists()


def test_other_model_shape_refused_but_max_steps_may_change(tmp_path, reference, capsys):
  """Resuming the 60-step reference with dim 32 raises a TrainingError naming the workdir and
  'dim: checkpoint 16 vs config 32' (not max_steps), writing nothing; with max_steps 65
  it says 'resumed from .../60', adds checkpoint 65, keeps the reference's metric records as
  they were and appends records of step 65 only. Rules out a resume check that compares
  max_steps, a resume that restarts at step 0, and one that rewrites earlier metrics."""
  wd = copy_reference(reference, tmp_path)
  latest = os.path.join(wd, checkpoint.LATEST)
  before = workdir_files(wd)
  with pytest.raises(trainer.TrainingError) as err:
    trainer.train_and_evaluate(make_config(dim=32, max_steps=65), wd)
  msg = str(err.value)
  assert wd in msg and "dim: checkpoint 16 vs config 32" in msg
  assert "max_steps" not in msg
  assert workdir_files(wd) == before

  capsys.readouterr()
  trainer.train_and_evaluate(make_config(max_steps=65), wd)
  assert f"resumed from {latest}/60\n" in capsys.readouterr().out
  assert complete_steps(latest) == [60, 65]
  records = metrics.read_metrics(wd)
  assert records[:len(reference.metrics)] == reference.metrics
  assert [r["step"] for r in records[len(reference.metrics):]] == [65, 65]


@pytest.mark.parametrize("key,value", [("batch_size", 8), ("seq_len", 32), ("seed", 1),
                                       ("q_type", "mu-law"), ("cond_sample_tier", True),
                                       ("dither", True), ("balance_classes", True),
                                       ("trim_quiet", 0.01), ("cond_dropout", 0.1),
                                       ("grad_clip", 0.0), ("max_eval_clips", 3)])
def test_resume_refuses_each_key_the_readme_names(tmp_path, reference, key, value):
  """A workdir whose checkpoint was trained with another batch size, TBPTT
  length, seed, quantisation, dither, class balance, trimming, class dropout
  or conditioning, with gradient clipping turned off, or evaluated on
  another number of clips, is refused, naming the key and both values, and
  nothing is written (rules out a resume that silently continues with a
  different data order or model; for grad_clip, orbax's multi-line tree
  mismatch that suggests a partial_restore no flag can ask for; for
  max_eval_clips, best/ kept by comparing a subset's valid bits with the
  whole split's, which froze it or replaced it with a worse state; before
  this only dim was tested)."""
  wd = copy_reference(reference, tmp_path)
  before = workdir_files(wd)
  with pytest.raises(trainer.TrainingError) as err:
    trainer.train_and_evaluate(make_config(**{key: value}, max_steps=65), wd)
  want = RUN.get(key, load_config_file(os.path.join(REPO, "configs", "tiny.py"))[key])
  assert f"{key}: checkpoint {want!r} vs config {value!r}" in str(err.value)
  assert workdir_files(wd) == before


def test_a_workdir_with_best_but_no_checkpoints_is_not_started_again(tmp_path, reference):
  """``checkpoints/`` deleted (it holds the optimizer state; ``best/`` only
  the parameters): a new run is refused with one line naming the workdir and
  best/60, and every file of the workdir is as it was. Rules out starting
  at step 0 there, whose first evaluation saves best/<early step> and, as
  best/ keeps one state, deletes the better best/60."""
  wd = copy_reference(reference, tmp_path)
  shutil.rmtree(os.path.join(wd, checkpoint.LATEST))
  before = workdir_files(wd)
  with pytest.raises(workdir_lib.WorkdirError) as err:
    trainer.train_and_evaluate(make_config(), wd)
  msg = str(err.value)
  assert msg.startswith(f"workdir={wd}: holds best/60 but no checkpoints/") and "\n" not in msg
  assert complete_steps(os.path.join(wd, checkpoint.BEST)) == [60]
  assert workdir_files(wd) == before


def test_resume_on_other_data_is_refused(tmp_path, reference):
  """The reference (synthetic data) resumed with config.data_dir an npz
  folder of the same four classes and clip length but other clips: a
  TrainingError naming the workdir and the splits that differ with their
  clip counts (or, for as many clips as before, that the audio differs), and
  nothing written. Rules out a resume that silently
  continues on other data (the epoch count going backwards, best/ chosen
  across two valid sets), e.g. after a recording was added to a class
  folder, which packs it again."""
  from samplernn_jax import synthetic
  wd = copy_reference(reference, tmp_path)
  data_dir = tmp_path / "other"
  data_dir.mkdir()
  sid = np.arange(8, dtype=np.uint8) % 4
  for split, seed in (("train", 0), ("valid", 1)):  # valid: as many clips as before
    np.savez(data_dir / f"audio_{split}.npz", sid=sid, wav=(
        0.1 * np.random.default_rng(seed).standard_normal((8, 32000))).astype(np.float16))
  (data_dir / "classes.json").write_text(json.dumps(list(synthetic.CLASS_NAMES)))
  before = workdir_files(wd)
  with pytest.raises(trainer.TrainingError) as err:
    trainer.train_and_evaluate(make_config(data_dir=str(data_dir), max_steps=65), wd)
  msg = str(err.value)
  assert msg.startswith(f"{wd}: its checkpoint was trained on other data than "
                        f"config.data_dir={data_dir} holds (splits that differ: train: "
                        "checkpoint 48 clips, now 8 clips, valid: 8 clips as before, other "
                        "audio or labels, test: checkpoint 8 clips, now none)"), msg
  assert workdir_files(wd) == before


def test_resume_accepts_the_keys_the_readme_lets_change():
  """The resume check compares a saved config with the new one: changes of
  max_steps, num_epochs and learning_rate (the README's examples), and of the
  evaluation, logging and checkpoint cadence, pass; a change of dim in the
  same config is still refused (the control). Another positive grad_clip
  passes (its optimizer state has the same tree). Rules out a check that
  compares every key, which would make a run impossible to extend by epochs
  or to resume with a lower learning rate after a non-finite step."""
  saved = {"config": make_config().to_dict(), "n_classes": 4}
  free = dict(max_steps=1000, num_epochs=99, learning_rate=3e-4, eval_every_steps=7,
              log_every_steps=3, checkpoint_every_steps=11, keep_checkpoints=5,
              grad_clip=0.5)
  trainer._check_resume_config(make_config(**free), saved, "wd", 4)
  with pytest.raises(trainer.TrainingError, match="dim: checkpoint 16 vs config 32"):
    trainer._check_resume_config(make_config(dim=32, **free), saved, "wd", 4)


# ---------------------------------------------------------------------------
# a workdir or disk that refuses writes


def writes_refused(folder):
  try:
    with open(os.path.join(folder, ".probe_by_test"), "w"):
      pass
  except OSError:
    return True
  os.remove(os.path.join(folder, ".probe_by_test"))
  return False


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP])
def test_a_workdir_that_refuses_locks_is_one_clear_error(tmp_path, monkeypatch, code):
  """A filesystem that refuses flock (ENOLCK: NFS without lockd; Lustre
  without -o flock answers ENOSYS; others EOPNOTSUPP) is a WorkdirError
  naming the workdir, the cause and the way out, one line at the entry
  points. Rules out the OSError passed on as it came (the system's words
  alone, no way out), and an answer of those three left out of the known
  ones (that filesystem's users got it)."""
  from samplernn_jax import cli
  from samplernn_jax.errors import WorkdirError

  def no_locks(fd, op):
    raise OSError(code, os.strerror(code))

  monkeypatch.setattr(workdir_lib.fcntl, "flock", no_locks)
  wd = str(tmp_path / "run")
  with pytest.raises(WorkdirError, match=rf"^workdir={re.escape(wd)}: cannot lock \.lock "
                     rf"\({re.escape(os.strerror(code))}\); its filesystem does not support "
                     "flock") as err:
    workdir_lib.WorkdirLock(wd).acquire()
  assert isinstance(err.value, cli.KNOWN_ERRORS)


def test_unwritable_workdir_is_refused_and_checkpoints_stay(tmp_path, reference, monkeypatch):
  """A copy of the reference made read-only (as root, which ignores the mode, a write probe that
  fails with ENOSPC): resuming to 70 steps raises a one-line WorkdirError 'workdir=<wd>: not
  writable (...', and checkpoints/ keeps the reference's steps, step 60's parameters
  unchanged. Rules out a start without the write check (the run trains on, or fails at a save
  with a raw OSError) and a failure that removes or damages the existing checkpoints."""
  wd = copy_reference(reference, tmp_path)
  os.chmod(wd, 0o500)
  try:
    if not writes_refused(wd):  # root ignores the mode: make the disk refuse instead
      os.chmod(wd, 0o700)
      real_open = open

      def full_disk_open(path, *args, **kwargs):
        if os.path.basename(str(path)) == ".write_probe":
          raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, *args, **kwargs)
      monkeypatch.setattr(workdir_lib, "open", full_disk_open, raising=False)
    with pytest.raises(workdir_lib.WorkdirError) as err:
      trainer.train_and_evaluate(make_config(max_steps=70), wd)
  finally:
    os.chmod(wd, 0o700)
  msg = str(err.value)
  assert msg.startswith(f"workdir={wd}: not writable (") and "\n" not in msg
  assert complete_steps(os.path.join(wd, checkpoint.LATEST)) == reference.steps
  params, _ = checkpoint.restore_params(wd, checkpoint.LATEST, 60)
  assert_trees_equal(params, reference.params)


@pytest.mark.skipif(os.geteuid() != 0, reason="not root: the test above meets the "
                    "real permission refusal already")
def test_permission_refusal_as_an_unprivileged_user():
  """The permission branch itself, which the test above cannot reach as root
  (root ignores the mode): a child process drops to user nobody and checks a
  read-only folder. Rules out a check that passes on a folder the user may
  not write (e.g. one that only tests os.path.isdir) and a message that does
  not name the workdir and the cause."""
  import select
  import shutil
  import tempfile
  d = tempfile.mkdtemp(prefix="samplernn_readonly_", dir="/tmp")
  os.chmod(d, 0o555)  # nobody may enter, not write
  try:
    r, w = os.pipe()
    with warnings.catch_warnings():  # fork with JAX's threads: see the timeout below
      warnings.simplefilter("ignore", RuntimeWarning)
      pid = os.fork()
    if pid == 0:  # the child: no JAX, only the check
      os.close(r)
      try:
        os.setgid(65534)
        os.setuid(65534)
        try:
          workdir_lib.check_writable(d)
          msg = "no error"
        except workdir_lib.WorkdirError as e:
          msg = str(e)
      except BaseException as e:  # noqa: BLE001 - reported to the parent
        msg = f"child failed: {e!r}"
      os.write(w, msg.encode())
      os._exit(0)
    os.close(w)
    # fork() in a multithreaded (JAX) process: the child only touches files,
    # but never wait on it for ever.
    ready, _, _ = select.select([r], [], [], 60)
    if not ready:
      os.kill(pid, signal.SIGKILL)
    msg = os.read(r, 4096).decode() if ready else "child hung after fork"
    os.close(r)
    os.waitpid(pid, 0)
  finally:
    os.chmod(d, 0o700)
    shutil.rmtree(d)
  assert msg == (f"workdir={d}: not writable (Permission denied); free some "
                 "space or fix its permissions")


def test_failed_checkpoint_save_is_reported_and_earlier_ones_stay(tmp_path, reference,
                                                                  monkeypatch):
  """``Checkpoints.save`` raising ENOSPC (the disk full as the save starts):
  a TrainingError naming the workdir, the step and the cause and saying the
  previous checkpoints are intact, which they are (step 60 restores to the
  reference's parameters). Rules out the bare OSError traceback, and a
  failed save that removes or damages the checkpoints before it."""
  wd = copy_reference(reference, tmp_path)
  real_save = checkpoint.Checkpoints.save

  def save(self, which, step, state, meta):
    if step > 60:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_save(self, which, step, state, meta)
  monkeypatch.setattr(checkpoint.Checkpoints, "save", save)
  with pytest.raises(trainer.TrainingError) as err:
    trainer.train_and_evaluate(make_config(max_steps=70), wd)
  msg = str(err.value)
  assert msg.startswith(f"{wd}: could not save the checkpoint of step 65 ")
  assert "No space left on device" in msg and "previous checkpoints are intact" in msg
  assert complete_steps(os.path.join(wd, checkpoint.LATEST)) == reference.steps
  params, _ = checkpoint.restore_params(wd, checkpoint.LATEST, 60)
  assert_trees_equal(params, reference.params)


@pytest.mark.parametrize("folder", [checkpoint.LATEST, checkpoint.BEST])
def test_disk_full_in_the_background_write_of_the_last_checkpoint(tmp_path, reference,
                                                                  monkeypatch, folder):
  """orbax writes checkpoints in a background thread: a disk that fills up
  there (here: while writing the JSON meta of step 65 in checkpoints/, the
  run's last write, whose error only the managers' close can raise; or in
  best/, raised when the next save waits for it) must still end in the
  trainer's clear error, and leave 60 loadable. Rules out the error lost in
  the thread (the run reported as finished), and the failed step's
  leftovers counted as a complete checkpoint."""
  from orbax.checkpoint._src.handlers import json_checkpoint_handler as json_handler
  wd = copy_reference(reference, tmp_path)
  real_write = json_handler.JsonCheckpointHandler._save_fn

  async def write(self, item, directory):
    if (isinstance(item, dict) and item.get("step", 0) > 60
        and f"{os.sep}{folder}{os.sep}" in str(directory)):
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return await real_write(self, item, directory)
  monkeypatch.setattr(json_handler.JsonCheckpointHandler, "_save_fn", write)
  with pytest.raises(trainer.TrainingError) as err:
    trainer.train_and_evaluate(make_config(max_steps=65), wd)
  msg = str(err.value)
  assert "step 65" in msg and "No space left on device" in msg
  assert complete_steps(os.path.join(wd, checkpoint.LATEST)) == reference.steps
  params, _ = checkpoint.restore_params(wd, checkpoint.LATEST, 60)
  assert_trees_equal(params, reference.params)


# ---------------------------------------------------------------------------
# sample.py keeps what exists



def test_an_output_the_system_refuses_is_one_error_line(tmp_path, reference, capsys):
  """sample.py --out under a plain file: exit 2 and one ``error:`` line
  naming the setting, the path and the system's reason, the file untouched. Rules out
  the traceback an OSError other than FileNotFoundError/FileExistsError
  gave (not a directory, no permission, a full disk)."""
  blocker = tmp_path / "a_file"
  blocker.write_text("kept")
  with pytest.raises(SystemExit) as exit_:
    load_sample_py().main(["--workdir", reference.workdir, "--out", str(blocker / "x"),
                           "--per_class", "1", "--seconds", "0.01", "--no_progress"])
  assert exit_.value.code == 2
  errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith("error:")]
  assert errors == [f"error: out={blocker / 'x'}: cannot create or open it "
                    f"({os.strerror(errno.ENOTDIR)})"], errors
  assert blocker.read_text() == "kept"


def test_score_refuses_data_whose_classes_json_names_other_classes(tmp_path, reference,
                                                                  monkeypatch):
  """score.py on an npz whose classes.json lists the reference's classes in
  another order: a ValueError naming the file and both lists, before the
  npz is read or anything compiled (both made to fail here); the same
  names in the checkpoint's order (and an npz with no classes.json, or a
  checkpoint that knows its classes by index only) pass the check. Rules
  out scoring 'chirp' clips conditioned on 'rumble', with no word said,
  refusing every named npz to an index-only checkpoint, and the check made
  after the scoring (minutes of it for a real test split)."""
  from samplernn_jax import cost

  def too_early(*args, **kwargs):
    raise AssertionError("the npz was read or the model compiled before the class check")
  monkeypatch.setattr(cost.splits, "load_split", too_early)
  monkeypatch.setattr(cost, "Evaluator", too_early)
  names = ["tone", "rumble", "chirp", "clicks"]  # synthetic.CLASS_NAMES, the reference's
  data = tmp_path / "audio_test.npz"
  np.savez(data, wav=np.zeros((2, 512), np.float16), sid=np.array([0, 1], np.uint8))
  cost.check_class_names(names, str(data))  # no classes.json: nothing to compare
  (tmp_path / "classes.json").write_text('["rumble", "tone", "chirp", "clicks"]')
  with pytest.raises(ValueError, match=re.escape(
      f"{tmp_path / 'classes.json'}: classes ['rumble', 'tone', 'chirp', 'clicks']; the "
      f"checkpoint was trained on {names} (sid k is the k-th)")):
    cost.score(reference.workdir, str(data))
  (tmp_path / "classes.json").write_text(json.dumps(names))
  cost.check_class_names(names, str(data))
  # a checkpoint trained without names (indices only): nothing to compare
  cost.check_class_names(["0", "1", "2", "3"], str(data))


def test_score_refuses_data_of_another_rate_without_offering_the_key(tmp_path, reference):
  """score.py on an npz packed at 8 kHz for a 16 kHz checkpoint: a DataError
  naming the file, both rates and the checkpoint, and only the repacking as
  the way out. Rules out the advice to set config.sample_rate (score.py
  would take it as an override and score a 16 kHz model's function on 8 kHz
  clips as if it had been trained on them)."""
  from samplernn_jax import cost
  data = tmp_path / "audio_test.npz"
  np.savez(data, wav=np.zeros((2, 512), np.float16), sid=np.array([0, 1], np.uint8),
           sample_rate=np.int64(8000))
  with pytest.raises(DataError, match=rf"^{re.escape(str(data))}: packed at 8000 Hz, but "
                     r"16000 Hz is asked for \(the "
                     r"rate the checkpoint .*best.* was trained at\); pack the recordings "
                     r"again at 16000 Hz \(pack_folder.py --sample_rate=16000\)$"):
    cost.score(reference.workdir, str(data))


def test_sample_py_never_overwrites_without_the_flag(tmp_path, reference, capsys):
  """sample.py run again into the folder it filled (as before, with --stream, with another
  --seed): exit 2 with one error line naming tone_000.wav, the 3 files and --overwrite, every
  file's bytes and mtime kept; with --overwrite the clip is rewritten (seed 1's audio) and no
  temporary file remains. Rules out --stream or a new seed skipping the check, a refusal
  after the folder was touched, and --overwrite leaving temporaries or the old clip."""
  sample_py = load_sample_py()
  out = str(tmp_path / "samples")
  args = ["--workdir", reference.workdir, "--out", out, "--classes", "tone",
          "--per_class", "1", "--seconds", "0.01", "--no_progress"]
  sample_py.main(args)
  assert sorted(os.listdir(out)) == ["manifest.json", "model.json", "tone_000.wav"]
  before = snapshot(out)
  capsys.readouterr()
  for extra in ([], ["--stream"], ["--seed", "1"]):
    with pytest.raises(SystemExit) as exit_:
      sample_py.main(args + extra)
    assert exit_.value.code == 2
    errors = [l for l in capsys.readouterr().err.splitlines() if l.startswith("error:")]
    assert errors == [f"error: {os.path.join(out, 'tone_000.wav')} exists (3 of the 3 files "
                      "this run writes do); pass --overwrite (overwrite=True in Python) to "
                      "replace them"]
    assert snapshot(out) == before
  sample_py.main(args + ["--seed", "1", "--overwrite"])
  after_ = snapshot(out)
  assert sorted(after_) == ["manifest.json", "model.json", "tone_000.wav"]  # no temporaries
  assert after_["tone_000.wav"][0] != before["tone_000.wav"][0]


def test_a_write_that_fails_half_way_leaves_the_earlier_file(tmp_path, monkeypatch):
  """sample.py (``sample_files.write_clips``, as with --overwrite) writes each
  clip under a temporary name and renames it onto its path; evaluate.py's
  eval.json and report go through the same ``files.atomic_write``. A write
  that fails half-way (soundfile raising ENOSPC after writing part of the
  file, as a full disk does) leaves the earlier file at that path byte for
  byte and no temporary file behind. Rules out writing straight onto the
  path, which would leave a truncated clip (or half a JSON file) in place of
  the old one."""
  from samplernn_jax import files, sample_files
  out, write = _two_clips_written(tmp_path)
  before = snapshot(out)

  real_write = sample_files.sf.write

  def half_then_full_disk(path, audio, *args, **kwargs):
    real_write(path, audio[:len(audio) // 2], *args, **kwargs)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
  monkeypatch.setattr(sample_files.sf, "write", half_then_full_disk)
  with pytest.raises(OSError, match="No space left"):
    write()
  assert snapshot(out) == before

  def half_json(tmp):
    with open(tmp, "w") as f:
      f.write('{"half": ')
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), tmp)
  with pytest.raises(OSError, match="No space left"):
    files.atomic_write(os.path.join(out, "manifest.json"), half_json)
  assert snapshot(out) == before


def test_one_path_twice_in_a_write_of_several_files_is_refused(tmp_path):
  """``files.atomic_write_all`` given one path twice: a ValueError naming
  it, before anything is written. Rules out the two entries sharing a
  temporary name: the first rename put the second write's content in place
  and the second rename failed, one file replaced and an error raised."""
  from samplernn_jax import files
  path = str(tmp_path / "a.json")
  files.write_json(path, "old")
  with pytest.raises(ValueError, match=f"atomic_write_all: {re.escape(path)} given 2 times"):
    files.atomic_write_all([(path, files.json_writer("a")), (path, files.json_writer("b"))])
  assert os.listdir(tmp_path) == ["a.json"] and json.load(open(path)) == "old"


def _two_clips_written(tmp_path):
  """A folder of clips a_000.wav, b_000.wav, manifest.json and model.json
  (``sample_files.write_clips``), and the call that writes them again (new
  random levels each call)."""
  from samplernn_jax import sample_files
  loaded = sample_files.Loaded(None, None, config_lib.base_config(), ["a", "b"], 3)
  req = sample_files.make_request(loaded.class_names, None, 1, None)
  names = sample_files.file_names(req)
  out = str(tmp_path / "samples")
  os.makedirs(out)
  rng = np.random.default_rng(0)
  write = lambda: sample_files.write_clips(loaded, out, req, names,
                                           rng.integers(0, 256, (2, 1600)), "minmax", 1.0, 0)
  write()
  assert sorted(os.listdir(out)) == ["a_000.wav", "b_000.wav", "manifest.json", "model.json"]
  return out, write


def test_a_write_that_fails_at_the_second_clip_replaces_none(tmp_path, monkeypatch):
  """``--overwrite`` onto an earlier run's folder with the disk full at the
  second clip: the earlier clips, manifest and model.json stay byte for
  byte (the files are written as one, ``files.atomic_write_all``). Rules out
  renaming each clip as it is written (before 2026-12-02): the first new
  clip then sat under the earlier manifest and model.json, which named other
  settings (seed, temperature, step) than those that made it."""
  from samplernn_jax import sample_files
  out, write = _two_clips_written(tmp_path)
  before = snapshot(out)
  real_write, calls = sample_files.sf.write, []

  def full_at_the_second(path, *args, **kwargs):
    calls.append(path)
    if len(calls) == 2:
      raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    real_write(path, *args, **kwargs)
  monkeypatch.setattr(sample_files.sf, "write", full_at_the_second)
  with pytest.raises(OSError, match="No space left"):
    write()
  assert len(calls) == 2
  assert snapshot(out) == before
  monkeypatch.setattr(sample_files.sf, "write", real_write)
  write()  # and a write that succeeds replaces all four
  after = snapshot(out)
  assert sorted(after) == sorted(before)
  assert all(after[f] != before[f] for f in ["a_000.wav", "b_000.wav"])


def test_a_failed_sample_write_at_an_evaluation_keeps_that_steps_checkpoint(
    tmp_path, reference, monkeypatch):
  """The clips an evaluation writes (sample_every_evals) come after the
  step's checkpoint, and any error out of the loop waits for the saves in
  flight: with the disk full as the clips of step 90 are written, the run
  fails with that error and step 90's checkpoint is complete, the evaluated
  step's parameters. Rules out the order before 2026-12-01 (clips first: a
  failed write lost the training since the last checkpoint, here 85) and a
  non-trainer error that leaves the last save half-written."""
  from orbax.checkpoint._src.handlers import json_checkpoint_handler as json_handler
  wd = copy_reference(reference, tmp_path)

  def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  monkeypatch.setattr(trainer, "write_training_samples", full_disk)
  # step 90's save made slow (its meta written a second late), so that it is
  # surely still in flight when the error leaves the loop, on any machine
  real_write = json_handler.JsonCheckpointHandler._save_fn

  async def slow_write(self, item, directory):
    if isinstance(item, dict) and item.get("step") == 90:
      await asyncio.sleep(1.0)
    return await real_write(self, item, directory)
  monkeypatch.setattr(json_handler.JsonCheckpointHandler, "_save_fn", slow_write)
  with pytest.raises(OSError, match="No space left on device"):
    trainer.train_and_evaluate(make_config(max_steps=90, sample_every_evals=1), wd)
  assert not [n for n in listing(os.path.join(wd, checkpoint.LATEST)) if TMP_MARK in n]
  assert 90 in complete_steps(os.path.join(wd, checkpoint.LATEST))
  checkpoint.restore_params(wd, checkpoint.LATEST, 90)


ASCII_LOCALE_CHILD = """
import json, os, sys
from samplernn_jax import sample_files, splits
from samplernn_jax.evaluation import samples
d = sys.argv[1]
print(json.dumps({"classes": splits.load_class_names(d, 2),
                  "listed": sample_files._listed_wavs(os.path.join(d, "manifest.json")),
                  "evaluated": [c for _, c, _ in samples._from_manifest(d, ["caf\\u00e9", "\\u96e8"],
                                                                        True, [])]}))
"""


def test_hand_written_utf8_json_reads_under_an_ascii_locale(tmp_path):
  """A classes.json and a manifest.json written by hand in UTF-8 (class
  names ``café``, ``雨`` unescaped) read the same in a process whose locale
  is not UTF-8 (here LC_ALL=C without Python's UTF-8 mode: ASCII; Windows:
  cp1252). Rules out open() without ``encoding``: the classes refused (or
  under cp1252 read as ``cafÃ©``), the manifest's clips taken as no clips
  (an --overwrite then left them) and evaluate.py refusing the folder."""
  d = tmp_path / "d"
  d.mkdir()
  (d / "classes.json").write_bytes('["café", "雨"]'.encode())
  for name in ("café_000.wav", "雨_000.wav"):
    sf.write(str(d / name), np.zeros(1600, np.float32), 16000)
  (d / "manifest.json").write_bytes(json.dumps(
      [{"file": "café_000.wav", "class": "café"}, {"file": "雨_000.wav", "class": "雨"}],
      ensure_ascii=False).encode())
  env = dict(subprocess_env(), LC_ALL="C", PYTHONUTF8="0")
  env.pop("LANG", None)
  proc = subprocess.run([sys.executable, "-c", ASCII_LOCALE_CHILD, str(d)], cwd=REPO, env=env,
                        capture_output=True, text=True, encoding="utf-8", timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert json.loads(proc.stdout) == {"classes": ["café", "雨"],
                                     "listed": ["café_000.wav", "雨_000.wav"],
                                     "evaluated": [0, 1]}


def test_a_killed_saves_temporary_folder_is_removed_at_the_next_start(tmp_path):
  """A save killed part-way (SIGKILL after a scheduler's grace time) leaves
  orbax's ``<step>.orbax-checkpoint-tmp...`` folder, up to a whole state's
  size; the next start of a run (its writable managers) removes it, a
  reader (sample.py's read-only manager) leaves the folder as it is. Rules
  out orbax's default, under which a stop-save's leftover at a step never
  saved again stayed for good (seen: step 45's, 473 MB for the paper
  model, after a resume to step 60).

  orbax removes them in a background thread, so the reader is judged only
  after a writable manager built after it, in another folder, has removed
  its own leftover: a reader that removed them too (a writable manager
  given to it) would have done so by then."""
  def gone_within(folder, seconds=30):
    deadline = time.time() + seconds
    while os.listdir(folder) and time.time() < deadline:
      time.sleep(0.05)
    return not os.listdir(folder)

  for sub in (checkpoint.LATEST, checkpoint.BEST, "probe"):
    os.makedirs(tmp_path / sub / "45.orbax-checkpoint-tmp-1733")
  checkpoint.manager(str(tmp_path / checkpoint.LATEST), 2, read_only=True)
  checkpoint.manager(str(tmp_path / "probe"), 2)
  assert gone_within(tmp_path / "probe"), "the writable manager left its leftover"
  time.sleep(0.2)
  assert os.listdir(tmp_path / checkpoint.LATEST) == ["45.orbax-checkpoint-tmp-1733"]
  checkpoint.Checkpoints(str(tmp_path))
  assert gone_within(tmp_path / checkpoint.LATEST) and gone_within(tmp_path / checkpoint.BEST)


def test_a_status_file_that_cannot_be_written_is_a_warning_not_the_runs_error(tmp_path, caplog):
  """``run_status.write`` into a folder that refuses it (here a plain file
  where the workdir should be; a full disk, as a run fails for it): a
  warning naming status.json, no exception, so the error that ended the
  run is the one raised. Rules out the status write's OSError replacing
  the run's own (a TrainingError's advice lost behind "No space left")."""
  not_a_folder = tmp_path / "file"
  not_a_folder.write_text("")
  with caplog.at_level("WARNING"):
    run_status.write(str(not_a_folder), "failed", 3, error="the run's own error")
  assert f"{not_a_folder}/status.json: not written" in caplog.text
  assert run_status.read(str(not_a_folder)) is None
  with pytest.raises(ValueError, match="state 'done'; expected one of"):
    run_status.write(str(tmp_path), "done", 3)
