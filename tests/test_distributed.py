"""Two processes on this machine train as one (issue #9).

train.py twice, ``--coordinator=127.0.0.1:PORT --num_processes=2
--process_id=i`` (CPU, gloo collectives; each process has one CPU device, so
the global mesh has 2 devices and each process feeds 2 of the batch's 4 rows),
into one workdir, next to a single-process run (one device) over the same
global batches. Their train costs agree within 1e-5 bits (measured: ~1e-6;
float32 sums in another order, and Adam magnifies tiny gradient differences
near zero), the metrics file is written once, by process 0, and the
checkpoint both processes wrote loads in one process (as sample.py and
score.py load it) and holds the single-process run's parameters within 1e-5.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import optax
import pytest

from conftest import REPO, run_scripts, subprocess_env
from samplernn_jax import agreement, checkpoint, distributed, metrics, steps
from samplernn_jax import config as config_lib
from samplernn_jax import workdir as workdir_lib

FLAGS = ["--config.dim=16", "--config.n_rnn=1", "--config.emb_size=8",
         "--config.seq_len=64", "--config.batch_size=4", "--config.max_steps=6",
         "--config.log_every_steps=2", "--config.checkpoint_every_steps=1000",
         "--config.eval_every_steps=1000", "--config.max_eval_clips=4"]
TOLERANCE = 1e-5  # bits per sample
# Parameters after 6 steps: float32 sums in another order (measured: at most
# 1.2e-7 apart, one float32 rounding of values near 1); 1e-5 is 1 % of one
# Adam step (learning rate 1e-3).
PARAM_TOLERANCE = 1e-5


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def train_cmd(workdir, *extra):
  return [sys.executable, os.path.join(REPO, "train.py"), "--config",
          os.path.join(REPO, "configs", "tiny.py"), *FLAGS, f"--workdir={workdir}", *extra]


def start_all(cmds, logs):
  """Starts the commands side by side, each writing to its log file."""
  procs = []
  for cmd, log in zip(cmds, logs):
    with open(log, "w") as f:
      procs.append(subprocess.Popen(cmd, cwd=REPO, env=subprocess_env(), stdout=f,
                                    stderr=subprocess.STDOUT))
  return procs


def run_all(cmds, logs, timeout=420):
  """Runs the commands side by side; when one fails or time runs out, kills
  the rest (a lone distributed process would wait for its peer forever)."""
  procs = start_all(cmds, logs)
  try:
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in procs):
      failed = [i for i, p in enumerate(procs) if p.poll() not in (None, 0)]
      if failed or time.monotonic() > deadline:
        break
      time.sleep(0.2)
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
      p.wait()
  for p, log in zip(procs, logs):
    with open(log) as f:
      assert p.returncode == 0, f"{log} (exit {p.returncode}):\n{f.read()[-3000:]}"


def test_two_processes_give_the_losses_of_one(tmp_path):
  """Two processes (one CPU device each) against one process over the same
  global batches: the same train, valid and test bits (within 1e-5), one
  metrics file, and the same parameters in the checkpoint (within 1e-5).
  Rules out processes that each train on their own rows (gradients not
  averaged across them), both processes writing metrics, and a checkpoint
  holding other parameters than those trained (e.g. one process's copy
  saved after it drifted; before, only shapes and finiteness were checked),
  and gradients summed across the processes (Adam's moments doubled)."""
  two, one = str(tmp_path / "two"), str(tmp_path / "one")
  coordinator = f"--coordinator=127.0.0.1:{free_port()}"
  cmds = [train_cmd(two, coordinator, "--num_processes=2", f"--process_id={i}")
          for i in range(2)] + [train_cmd(one)]
  run_all(cmds, [str(tmp_path / f"log_{n}.txt") for n in ("p0", "p1", "single")])

  got, want = metrics.read_metrics(two), metrics.read_metrics(one)
  # One file, written once (process 0): 3 train records and the final evaluation.
  assert [r["step"] for r in got] == [r["step"] for r in want] == [2, 4, 6, 6]
  for key in ("train_bits", "valid_bits", "test_bits"):
    g = [r[key] for r in got if key in r]
    w = [r[key] for r in want if key in r]
    assert len(g) == len(w) > 0
    np.testing.assert_allclose(g, w, rtol=0, atol=TOLERANCE, err_msg=key)
  with open(tmp_path / "log_p0.txt") as f0, open(tmp_path / "log_p1.txt") as f1:
    log0, log1 = f0.read(), f1.read()
  assert "parameters:" in log0 and "parameters:" not in log1  # process 0 alone logs

  params, meta = checkpoint.restore_params(two, checkpoint.LATEST, 6)
  assert meta["step"] == 6
  ref, _ = checkpoint.restore_params(one, checkpoint.LATEST, 6)
  assert jax.tree.structure(params) == jax.tree.structure(ref)
  # The parameters both processes trained equal the one-process run's: within
  # PARAM_TOLERANCE, while 6 steps moved them by ~100 times that from their
  # initial values. Rules out a checkpoint of one process's half of the
  # training (gradients not averaged across processes: ~lr per step apart).
  config = config_lib.from_saved(meta["config"], two)
  model = config_lib.build_model(config, meta["n_classes"])
  init = steps.init_params(model, jax.random.key(config.seed), config.seq_len)
  moved = 0.0
  for a, b, c in zip(jax.tree.leaves(params), jax.tree.leaves(ref), jax.tree.leaves(init)):
    assert a.shape == b.shape == c.shape
    np.testing.assert_allclose(a, b, rtol=0, atol=PARAM_TOLERANCE)
    moved = max(moved, float(np.abs(np.asarray(b) - np.asarray(c)).max()))
  assert moved > 100 * PARAM_TOLERANCE, moved
  # Adam's first moments, the sharper check (Adam cancels a constant scale of
  # the gradient in the parameters, but for the clip): within 1e-4 of each
  # leaf's largest (measured: 2.7e-7 of it); a gradient summed over the
  # two processes, not averaged, doubles them.
  mu_two, mu_one = (optax.tree_utils.tree_get(checkpoint.restore_tree(w, checkpoint.LATEST, 6)[0],
                                              "mu") for w in (two, one))
  assert len(jax.tree.leaves(mu_one)) == len(jax.tree.leaves(ref)) > 10
  for a, b in zip(jax.tree.leaves(mu_two), jax.tree.leaves(mu_one)):
    assert np.abs(a - b).max() <= 1e-4 * max(np.abs(b).max(), 1e-6), (a, b)


def test_sigterm_to_one_process_stops_both_at_one_saved_step(tmp_path):
  """SIGTERM to process 1 alone (a scheduler may signal hosts one by one):
  both processes stop after the same step, save it together and exit 143;
  process 0 (which got no signal) names it, the checkpoint is complete, and
  the mesh line names both processes. Rules out each process checking only
  its own flag: process 1 would leave the loop while process 0 waits in the
  next step's all-reduce and process 1 in the save's barrier, until the
  scheduler's SIGKILL (here: the timeout) ends both, nothing saved."""
  workdir = str(tmp_path / "two")
  coordinator = f"--coordinator=127.0.0.1:{free_port()}"
  cmds = [train_cmd(workdir, coordinator, "--num_processes=2", f"--process_id={i}",
                    "--config.max_steps=100000") for i in range(2)]
  logs = [str(tmp_path / f"log_p{i}.txt") for i in range(2)]
  procs = start_all(cmds, logs)
  try:
    deadline = time.monotonic() + 300
    # The first train record (step 2) needs process 1 in the training loop,
    # its handlers installed (the file itself is written before: too early).
    while not metrics.read_metrics(workdir):
      assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
      time.sleep(0.05)
    procs[1].send_signal(signal.SIGTERM)
    for p in procs:
      p.wait(timeout=60)
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
  out = [open(log).read() for log in logs]
  assert [p.returncode for p in procs] == [143, 143], out[0][-2000:] + out[1][-2000:]
  assert "devices: 2 cpu, 1 in process 0 of 2" in out[0]
  stopped = int(re.search(r"SIGTERM at step (\d+); saved", out[0]).group(1))
  assert 0 < stopped < 100000 and stopped % 2 == 0  # a log step (log_every_steps=2)
  assert checkpoint.find_step(workdir, "latest") == (checkpoint.LATEST, stopped)
  _, meta = checkpoint.restore_params(workdir, checkpoint.LATEST, stopped)
  assert meta["step"] == stopped


def communicate_all(cmds, timeout=300):
  """Runs the commands side by side to their end -> [(process, output)]; a
  process still waiting for its peer after ``timeout`` is killed."""
  running = [subprocess.Popen(cmd, cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for cmd in cmds]
  try:
    return [(p, p.communicate(timeout=timeout)[0]) for p in running]
  finally:
    for p in running:
      if p.poll() is None:
        p.kill()
        p.wait()


def test_a_workdir_refused_to_process_0_stops_every_process(tmp_path):
  """The workdir is in use by another run: process 0, which alone takes the
  lock, says so, and process 1 stops too with one line pointing to process
  0's log, both exiting 2. Rules out process 1 going on alone: it waited in
  its first collective for 30 s and died with a gloo timeout traceback."""
  workdir = str(tmp_path / "two")
  coordinator = f"--coordinator=127.0.0.1:{free_port()}"
  cmds = [train_cmd(workdir, coordinator, "--num_processes=2", f"--process_id={i}")
          for i in range(2)]
  with workdir_lib.WorkdirLock(workdir):  # another run holds it
    done = communicate_all(cmds)  # a process left waiting for its peer (the old code) is ended
  out = [o for _, o in done]
  errors = [[l for l in o.splitlines() if l.startswith("error:")] for o in out]
  assert [p.returncode for p, _ in done] == [2, 2], out
  assert errors[0] == [f"error: workdir={workdir} is in use by another run (pid "
                       f"{workdir_lib.holder_name()}); wait for it to end or use another workdir"]
  assert errors[1] == [f"error: workdir={workdir}: process 0 refused it (its log says why)"]
  assert "Traceback" not in out[1]


def test_processes_that_differ_in_config_or_workdir_all_stop_naming_it(tmp_path):
  """Process 1 started with another seed and learning rate, on a workdir of
  its own (as a folder on each host's own disk; it holds another run's probe
  file, so the refusal needs no wait): both processes exit 2 at the start,
  each with one error naming both differences, and the workdir process 0
  made is removed again. Rules out the old start, where such processes
  trained on: the seeds made the 'replicated' parameters differ (only
  process 0's saved), and a workdir not shared hung the first checkpoint
  save forever."""
  shared, own = tmp_path / "shared", tmp_path / "own"
  own.mkdir()
  (own / workdir_lib.PROBE_FILE).write_text("0123456789abcdef")
  coordinator = f"--coordinator=127.0.0.1:{free_port()}"
  cmds = [train_cmd(str(shared), coordinator, "--num_processes=2", "--process_id=0"),
          train_cmd(str(own), coordinator, "--num_processes=2", "--process_id=1",
                    "--config.seed=1", "--config.learning_rate=0.5")]
  out = communicate_all(cmds)
  said = ("the 2 processes of this run differ: process 1 does not see the folder process 0 "
          "locked; process 1 has other config.learning_rate, config.seed; put the workdir "
          "on a filesystem every host shares")
  assert [p.returncode for p, _ in out] == [2, 2], [o for _, o in out]
  for (_, o), wd in zip(out, (shared, own)):
    assert [l for l in o.splitlines() if l.startswith("error:")] == [f"error: workdir={wd}: {said}"]
    assert "Traceback" not in o
  assert not shared.exists()
  assert os.listdir(own) == [workdir_lib.PROBE_FILE]


def test_differences_name_each_key_split_and_step_against_process_0():
  """``agreement.differences`` compares every process's record with process
  0's: the config keys that differ (one only process 1 has, or only
  process 0, included), the data splits (one only process 0 reads too),
  the latest checkpoint step and the workdir's token, each named with its
  process. Rules out a comparison of only some keys (e.g. only the other
  process's, missing what it lacks), of a process with its neighbour
  rather than with process 0 (whose checkpoint and config the run saves),
  or a silent pass of a process that saw no token (None)."""
  first = {"config": {"seed": 0, "dim": 16}, "step": 5,
           "data": {"train": {"clips": 3, "sha1": "a"}, "valid": None}}
  same = json.loads(json.dumps(first))
  other = {"config": {"seed": 1, "dim": 16, "extra": 1}, "step": 4,
           "data": {"train": {"clips": 3, "sha1": "b"}, "valid": None}}
  assert agreement.differences([first, same]) == []
  assert agreement.differences([first, other, other]) == [
      "process 1 has other config.extra, config.seed", "process 1 reads other data (splits train)",
      "process 1 sees the latest checkpoint at step 4, process 0 at 5",
      "process 2 has other config.extra, config.seed", "process 2 reads other data (splits train)",
      "process 2 sees the latest checkpoint at step 4, process 0 at 5"]
  tokens = [{"workdir": "ab"}, {"workdir": "ab"}, {"workdir": None}]
  assert agreement.differences(tokens) == ["process 2 does not see the folder process 0 locked"]
  # a key and a split that only process 0 has
  fewer = {"config": {"seed": 0}, "step": 5, "data": {"valid": None}}
  assert agreement.differences([first, fewer]) == [
      "process 1 has other config.dim", "process 1 reads other data (splits train)"]


def test_a_listing_that_differs_is_asked_again_together_then_refused(monkeypatch, tmp_path):
  """Two processes (the gather faked) whose latest checkpoint step differs:
  listed again each second while it differs, so a host whose cached listing
  catches up within the minute starts; one that never does is refused
  after ``PROBE_TRIES`` listings, saying so. In ``check_start``, process 0
  removes its token even when the wait is interrupted. Rules out a single
  comparison (a stale NFS listing just after a save refused a restart) and
  a token file left behind (a refused start's workdir was then kept)."""
  monkeypatch.setattr(jax, "process_count", lambda: 2)
  monkeypatch.setattr(agreement.time, "sleep", lambda s: None)
  other = iter([4, 4, 5])  # process 1's listing catches up on the third round
  rounds = []

  def gather(rec):
    rounds.append(rec)
    return [rec, dict(rec, step=next(other, 4))]
  monkeypatch.setattr(agreement.distributed, "gather_json", gather)
  agreement.check_resume_point(str(tmp_path), {"train": None}, lambda: 5)
  assert len(rounds) == 3
  rounds.clear()
  with pytest.raises(agreement.TrainingError, match="sees the latest checkpoint at step 4, "
                     "process 0 at 5; .* the same checkpoints \\(these differed for a minute"):
    agreement.check_resume_point(str(tmp_path), {"train": None}, lambda: 5)
  assert len(rounds) == agreement.PROBE_TRIES

  def interrupted(rec):
    raise KeyboardInterrupt
  monkeypatch.setattr(agreement.distributed, "gather_json", interrupted)
  token = workdir_lib.write_probe(str(tmp_path))
  c = config_lib.load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  with pytest.raises(KeyboardInterrupt):
    agreement.check_start(c, str(tmp_path), token)
  assert not (tmp_path / workdir_lib.PROBE_FILE).exists()


@pytest.mark.parametrize("index", [0, 1])
def test_the_start_asks_once_when_every_process_sees_the_token(monkeypatch, tmp_path, index):
  """``check_start`` as process 0 (holding the token it wrote) and as process
  1 (reading it from the shared workdir; the gather faked to echo this
  process's record as both): one round when every process sees the token,
  a second only while one does not yet. Rules out a run that waits out the
  whole minute although every host sees the workdir (the test of two real
  processes passes then, a minute late), and process 1 sending the token
  it was given (None) instead of reading the file."""
  monkeypatch.setattr(jax, "process_count", lambda: 2)
  monkeypatch.setattr(jax, "process_index", lambda: index)
  monkeypatch.setattr(agreement.time, "sleep", lambda s: None)
  token = workdir_lib.write_probe(str(tmp_path))
  rounds = []

  def gather(rec):
    rounds.append(rec["workdir"])
    late = None if len(rounds) == 1 and late_host else token  # the other host's view
    return [rec, dict(rec, workdir=late)] if index == 0 else [dict(rec, workdir=token), rec]
  monkeypatch.setattr(agreement.distributed, "gather_json", gather)
  c = config_lib.load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  for late_host, want in ((False, 1), (True, 2 if index == 0 else 1)):
    rounds.clear()
    if index == 1:
      (tmp_path / workdir_lib.PROBE_FILE).write_text(token)  # process 0 removes it each time
    agreement.check_start(c, str(tmp_path), token if index == 0 else None)
    assert rounds == [token] * want


def test_hosts_compare_the_config_but_not_where_their_data_lies(tmp_path):
  """``agreement.config_record`` keeps every config key but data_dir (hosts
  may hold one data set at other paths; its content is compared instead);
  in one process nothing is gathered or read, and ``gather_json`` gives the
  process's own value. ``read_probe`` returns the token, or None where
  there is none. Rules out a data_dir compared (local copies refused), a
  one-process run waiting for a probe no one wrote, and a missing probe
  taken as a token."""
  c = config_lib.load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  record = agreement.config_record(c)
  assert "data_dir" not in record and set(record) == set(c.to_dict()) - {"data_dir"}
  assert distributed.gather_json({"a": [1]}) == [{"a": [1]}]
  start = time.monotonic()
  agreement.check_start(c, str(tmp_path / "none"), None)  # one process: no probe read
  agreement.check_resume_point(str(tmp_path / "none"), {}, lambda: 3)
  assert time.monotonic() - start < 1.0
  (tmp_path / workdir_lib.PROBE_FILE).write_text("0123")
  assert workdir_lib.read_probe(str(tmp_path)) == "0123"
  assert workdir_lib.read_probe(str(tmp_path / "none")) is None


def test_distributed_flag_lets_jax_detect_the_cluster(monkeypatch):
  """train.py's --distributed (``distributed.initialize(auto=True)``) calls
  ``jax.distributed.initialize()`` with no arguments, so that JAX reads the
  cluster from SLURM or Open MPI (which needs a cluster: not run here); the
  explicit flags are passed on as they are; no flag joins nothing; JAX's
  preemption service is turned off before joining; an incomplete or
  inconsistent set of flags is one clear error. Rules out
  --distributed being ignored (each host would train alone on the whole
  batch), empty explicit values passed on instead of JAX's detection, and
  JAX's C++ SIGTERM handler left in place, or turned off only after
  joining, which starts it (a SIGTERM during start-up was swallowed by it:
  the run went on, the scheduler's notice lost)."""
  import pytest
  from samplernn_jax import distributed
  calls, order = [], []
  monkeypatch.setattr(jax.distributed, "initialize",
                      lambda **kw: (calls.append(kw), order.append("initialize")))
  updates = []  # recorded, not applied: gloo and the preemption service stay as they are here
  monkeypatch.setattr(jax.config, "update", lambda *a: (updates.append(a), order.append(a)))
  assert distributed.initialize() is False and calls == [] and updates == []
  assert distributed.initialize(auto=True) is True and calls == [{}]
  # SIGTERM left to the trainer's handler and, before it, to the default: the
  # service is off before joining starts it (JAX starts it inside initialize)
  assert ("jax_enable_preemption_service", False) in updates
  assert order.index(("jax_enable_preemption_service", False)) < order.index("initialize")
  assert distributed.initialize("h0:1234", 2, 1) is True
  assert calls[-1] == {"coordinator_address": "h0:1234", "num_processes": 2, "process_id": 1}
  with pytest.raises(ValueError, match="^coordinator, num_processes and process_id go"):
    distributed.initialize("h0:1234")
  with pytest.raises(ValueError, match=r"^process_id=2: expected 0 \.\. 1"):
    distributed.initialize("h0:1234", 2, 2)
  assert len(calls) == 2


def test_train_py_distributed_outside_a_cluster_is_one_error_line(tmp_path):
  """train.py --distributed where JAX finds no cluster (no SLURM or Open MPI
  here): exit 2 and one ``error:`` line saying so and what to give instead,
  before the data is looked at. Rules out train.py not passing the flag on
  (the run went to its data: each host of a real cluster would train alone
  on the whole batch), and JAX's bare "coordinator_address should be
  defined" (which names no flag of ours)."""
  (p,) = run_scripts([(["train.py", "--distributed", "--config", "configs/tiny.py",
                        f"--config.data_dir={tmp_path / 'missing'}",
                        f"--workdir={tmp_path / 'run'}"], None, None)])
  errors = [l for l in p.stderr.splitlines() if l.startswith("error:")]
  assert p.returncode == 2 and errors == [
      "error: --distributed: JAX found no cluster to join (coordinator_address should be "
      "defined.); it reads SLURM's or Open MPI's environment. Elsewhere give --coordinator, "
      "--num_processes and --process_id"], p.stderr[-3000:]
  assert not (tmp_path / "run").exists()


def test_idle_gpus_under_slurm_are_named(tiny_config, tmp_path, monkeypatch, capsys):
  """One SLURM task per node with 8 GPUs (the README's old recipe): JAX gives
  the task one device, and train.py warns that 7 GPUs sit idle and how to
  start one task per GPU (the trainer's start, run here to its first
  checkpoint manager); one task per GPU, or no SLURM, says nothing.
  Rules out that misconfiguration training at an eighth of the speed with no
  word (the mesh is valid, only smaller), and a warning the trainer never
  prints."""
  from samplernn_jax import distributed
  one_task = {"SLURM_GPUS_ON_NODE": "8", "SLURM_NTASKS_PER_NODE": "1(x2)"}
  assert distributed.idle_gpus_warning(one_task, 1) == (
      "SLURM gives this node 8 GPUs and 1 task(s), and JAX each task 1 device(s): 7 GPUs "
      "idle; start one task per GPU (--ntasks-per-node=8)")
  assert distributed.idle_gpus_warning({**one_task, "SLURM_NTASKS_PER_NODE": "8"}, 1) is None
  assert distributed.idle_gpus_warning(one_task, 8) is None  # one task seeing all 8
  assert distributed.idle_gpus_warning({}, 1) is None

  class Started(Exception):
    pass

  def stop_here(*args, **kwargs):
    raise Started
  from samplernn_jax import trainer
  monkeypatch.setattr(trainer, "Checkpointer", stop_here)  # made after the warnings
  for name, value in one_task.items():
    monkeypatch.setenv(name, value)
  with pytest.raises(Started):
    trainer.train_and_evaluate(tiny_config(data_dir="synthetic"), str(tmp_path / "run"))
  assert ("warning: SLURM gives this node 8 GPUs and 1 task(s), and JAX each task 1 "
          "device(s): 7 GPUs idle" in capsys.readouterr().out)
