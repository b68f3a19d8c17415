"""The training loop: ``train_and_evaluate(config, workdir)``.

The host loop only feeds batches, logs, evaluates and checkpoints; the work is
in the jitted, data-parallel ``steps.train_step``. A step number fully
determines its data (``batches.TrainBatches``), and the state holds everything
else (parameters, optimizer, carried RNN state, metric sums), so a run resumed
from any checkpoint continues exactly as an unbroken run.

The parts, in the order a run uses them: ``make_setup`` (data, model, mesh,
optimizer, state shapes), ``restore_or_init`` (the latest checkpoint, or step
0), ``Checkpointer`` (save / close, never a non-finite state), and ``_Run``:
``run_steps``, ``flush_metrics`` every ``log_every_steps``,
``evaluate_and_keep_best`` at evaluations, and what a signal or Ctrl-C does.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import signal
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from samplernn_jax import agreement
from samplernn_jax import batches as batches_lib
from samplernn_jax import checkpoint as ckpt_lib
from samplernn_jax import config as config_lib
from samplernn_jax import datasets, distributed, levels, sample_files, sampling, sharding, signals
from samplernn_jax import progress, run_status, steps, trim
from samplernn_jax import workdir as workdir_lib
from samplernn_jax.cost import Evaluator
from samplernn_jax.errors import TrainingError, WorkdirError
from samplernn_jax.metrics import MetricsWriter
from samplernn_jax.model import SampleRNN

# Keys a resumed run must share with its checkpoint (besides the model's);
# max_eval_clips: the clips valid_bits averages over, which best_valid and
# best/ compare (a subset's bits beside the whole split's would keep best/
# frozen or replace it with a worse state).
RESUME_KEYS = ("batch_size", "seq_len", "seed", "dither", "balance_classes",
               "trim_quiet", "cond_dropout", "max_eval_clips")


def count_params(params) -> int:
  """Parameters in a tree of arrays (or of their shapes)."""
  return int(sum(np.prod(p.shape) for p in jax.tree.leaves(params)))


def param_count(config, n_classes: int) -> int:
  """Parameters of the model a config describes, without allocating them."""
  model = config_lib.build_model(config, n_classes)
  return count_params(steps.abstract_params(model, config.seq_len))


def _log(msg: str) -> None:
  if jax.process_index() == 0:
    progress.write(msg)


def devices_line() -> str:
  """``devices: 16 gpu, 8 in process 0 of 2``: what the mesh spans (a
  cluster launcher can leave each process one device of several)."""
  n_proc = jax.process_count()
  where = f", {jax.local_device_count()} in process 0 of {n_proc}" if n_proc > 1 else ""
  return f"devices: {jax.device_count()} {jax.devices()[0].platform}{where}"


def _plain(v):
  """A config value as its JSON holds it: lists for tuples, dicts for ConfigDicts."""
  if hasattr(v, "to_dict"):
    v = v.to_dict()
  if isinstance(v, dict):
    return {k: _plain(x) for k, x in v.items()}
  return [_plain(x) for x in v] if isinstance(v, (tuple, list)) else v


def _check_resume_config(config, meta: dict, workdir: str, n_classes: int) -> None:
  saved = dict(meta.get("config", {}))
  if saved:
    saved.setdefault("variant", {})  # saved before config.variant existed: none
  if "n_classes" in saved:
    # 0 means "count from the data": compare the counts actually used.
    saved["n_classes"] = meta.get("n_classes", saved["n_classes"])
  config = config.copy_and_resolve_references()
  config.n_classes = n_classes
  changed = [k for k in sorted(config.keys()) if k in saved
             and _plain(saved[k]) != _plain(config[k])]
  diff = [k for k in config_lib.MODEL_KEYS + RESUME_KEYS if k in changed]
  clips = lambda v: bool(v) and v > 0  # steps.make_optimizer: Adam alone, or clip then Adam
  if "grad_clip" in saved and clips(saved["grad_clip"]) != clips(config.grad_clip):
    diff.append("grad_clip")  # another optimizer state; a new positive bound is fine
  shown = lambda v: v.to_dict() if hasattr(v, "to_dict") else v  # one line, as saved
  if diff:
    detail = ", ".join(f"{k}: checkpoint {saved[k]!r} vs config {shown(config[k])!r}"
                       for k in diff)
    raise TrainingError(
        f"{workdir}: its checkpoint was trained with a different config ({detail}); "
        "use another workdir or the checkpoint's values")
  if changed:  # allowed (learning_rate, max_steps, dtype...), but said
    _log("resumed with other settings than the checkpoint's: " + ", ".join(
        f"{k} {saved[k]!r} -> {shown(config[k])!r}" for k in changed))


def write_training_samples(config, model, params, class_names, step: int,
                           workdir: str, class_rms=None) -> list[str]:
  """A few clips per class into ``workdir/samples/train_<step>`` (the paper's
  habit), at sample.py's default level, temperature and guidance (1). A class
  without training clips (no level to play it at; ``config.n_classes`` above
  the data's, or a class only in valid or test), or with silent ones (a
  level of 0), is left out."""
  loaded = sample_files.Loaded(model, jax.device_get(params), config, class_names, step,
                               class_rms, os.path.abspath(workdir), f"train/{step}")
  req = sample_files.make_request(class_names, None, config.sample_per_class, None)
  if class_rms is not None:
    keep = [i for i, c in enumerate(req.classes) if (class_rms[c] or 0) > 0]
    req = sample_files.Request(req.class_vecs[keep], [req.labels[i] for i in keep],
                               [req.classes[i] for i in keep], [req.mixes[i] for i in keep])
  out = os.path.join(workdir, "samples", f"train_{step}")
  return sample_files.write_samples(loaded, out, req, config.sample_seconds,
                                    seed=config.seed, overwrite=True, progress=False)


def train_and_evaluate(config, workdir: str, model_cls: type[SampleRNN] = SampleRNN,
                       cost_fn: Callable | None = None) -> dict:
  """Trains (or resumes) the run in ``workdir``; returns the last metrics.

  ``model_cls``: SampleRNN or a subclass (a research variant: README, "A
  variant in your own code"), built from the config's fields. ``cost_fn``:
  what training minimises (``steps.train_step``'s; the bits by default);
  evaluation, the best checkpoint and score.py keep the bits. Only one run
  may use a workdir at a time (a lock; a clear error for the second).

  Returns ``{}`` when the run is already at ``max_steps`` (a re-run cell
  resumes and stops at once); ``test_bits`` is in it only when the last
  evaluation improved on valid. Writes the workdir's files (README, "Train"),
  prints the config and a progress bar. Once its steps begin, SIGINT and
  SIGTERM save the current step and then raise ``SystemExit`` (130, 143)
  (before, during the set-up, they act as they would anyway); a second
  Ctrl-C more than a second after the first stops at once without saving,
  for a step or save that does not end: it raises ``signals.QuitNow`` (a
  KeyboardInterrupt; a notebook's kernel lives on) after closing the
  run's files (which waits for a save in flight; a third Ctrl-C stops the
  wait), or, in train.py, ends the process (``os._exit``).
  """
  config_lib.validate(config)
  if not ckpt_lib.saved_steps(workdir, ckpt_lib.LATEST):
    config_lib.check_seed(config.seed, "config.seed")  # a new run's draws: 32 bits
  with contextlib.ExitStack() as stack:
    refused, token = None, None
    if jax.process_index() == 0:  # the lock and the probes are process 0's
      try:
        stack.enter_context(workdir_lib.WorkdirLock(workdir))
        workdir_lib.check_writable(workdir)
        if jax.process_count() > 1:  # read back by the others (agreement.check_start)
          token = workdir_lib.write_probe(workdir)
      except WorkdirError as e:
        refused = e
    # Every process learns of a refusal: the others would otherwise wait in
    # their first collective until a timeout, with an error that says nothing.
    if distributed.max_over_processes(int(refused is not None)):
      raise refused or WorkdirError(f"workdir={workdir}: process 0 refused it (its "
                                    "log says why)")
    agreement.check_start(config, workdir, token)
    return _Run(config, workdir, model_cls, cost_fn).train()


@dataclasses.dataclass
class Setup:
  """What a run is made of, before any state exists."""
  dataset: datasets.Dataset
  model: Any
  mesh: jax.sharding.Mesh
  batches: batches_lib.TrainBatches
  tx: Any                 # the optax optimizer
  abstract: Any           # the TrainState's shapes (eval_shape)
  state_sharding: Any     # parameters replicated, carried RNN state batch-sharded

  @property
  def n_params(self) -> int:
    return count_params(self.abstract.params)


def make_setup(config, model_cls: type[SampleRNN] = SampleRNN) -> Setup:
  fs = config_lib.frame_sizes(config)
  dataset = datasets.open_dataset(config.data_dir, config.n_classes, min_len=None,
                                  synthetic_seed=config.seed, sample_rate=config.sample_rate)
  model = config_lib.build_model(config, dataset.n_classes, model_cls)
  sampling.check_sampled_as_trained(model)  # refused now, not after hours of training
  mesh = sharding.make_mesh()
  sharding.check_batch_size(config.batch_size, mesh)
  if config.eval_batch_size:  # checked before the workdir is written (Evaluator checks it too)
    sharding.check_batch_size(config.eval_batch_size, mesh, "config.eval_batch_size")
  batches = batches_lib.TrainBatches(
      _train_split(config, dataset), config.batch_size, config.seq_len, fs[0], config.q_type,
      config.q_levels, config.seed, jax.process_index(), jax.process_count(),
      dither=config.dither, balance=config.balance_classes,
      cond_dropout=config.cond_dropout, n_classes=dataset.n_classes)
  tx = steps.make_optimizer(config)
  abstract = jax.eval_shape(functools.partial(_fresh_train_state, config, model, tx))
  state_sharding = sharding.train_state_sharding(abstract, mesh)
  return Setup(dataset, model, mesh, batches, tx, abstract, state_sharding)


def _train_split(config, dataset: datasets.Dataset):
  """The clips training draws from: ``dataset.train``, or with
  ``config.trim_quiet`` its quiet frames cut out (``trim.trim_split``). The
  class levels (``levels.class_rms``) stay those of the untrimmed clips."""
  if not config.trim_quiet:
    return dataset.train
  split, counts = trim.trim_split(dataset.train, config.q_levels, config.trim_quiet,
                                  dataset.class_names, trim.frame_samples(config.sample_rate))
  _log(f"config.trim_quiet={config.trim_quiet}: training clips per class "
       + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in counts.items()))
  return split


def _fresh_train_state(config, model, tx) -> steps.TrainState:
  return steps.init_state(model, tx, jax.random.key(config.seed),
                          config.batch_size, config.seq_len)


def data_fingerprint(dataset: datasets.Dataset) -> dict:
  """Clips and content hash of each split (None when absent): what a
  resume checks the data against (``check_resume_data``)."""
  return {name: None if split is None else {"clips": split.num_clips,
                                             "sha1": split.content_sha1()}
          for name, split in (("train", dataset.train), ("valid", dataset.valid),
                              ("test", dataset.test))}


def _latest_step(workdir: str) -> int | None:
  latest = ckpt_lib.saved_steps(workdir, ckpt_lib.LATEST)
  return latest[-1] if latest else None


def check_resume_data(saved: dict, data: dict, config, workdir: str) -> None:
  """Refuses a resume on other data than the checkpoint's (another
  data_dir, or recordings added to a class folder, which packs it again):
  the data order, the epochs and the best valid cost would mix two data
  sets. A checkpoint that predates the record (no ``data``) is not checked."""
  if "data" not in saved:
    return
  def clips(f):
    return "none" if f is None else f"{f['clips']} clip{'' if f['clips'] == 1 else 's'}"

  def differs(k):  # as many clips, other samples: say so, not "1 clips, now 1 clips"
    was, now = saved["data"].get(k), data[k]
    if was is not None and now is not None and was.get("clips") == now.get("clips"):
      return f"{k}: {clips(now)} as before, other audio or labels"
    return f"{k}: checkpoint {clips(was)}, now {clips(now)}"
  diff = [k for k in data if saved["data"].get(k) != data[k]]
  if diff:
    detail = ", ".join(differs(k) for k in diff)
    raise TrainingError(
        f"{workdir}: its checkpoint was trained on other data than config.data_dir="
        f"{config.data_dir} holds (splits that differ: {detail}); use another workdir "
        "or the checkpoint's data")


def restore_or_init(config, setup: Setup, workdir: str, ckpts: ckpt_lib.Checkpoints,
                    data: dict | None = None):
  """(state, meta): the workdir's latest checkpoint when it has one (refused
  when its config differs in a model or RESUME_KEYS key, or, given ``data``
  (``data_fingerprint``), its data differs), else step 0."""
  step0 = ckpts.latest.latest_step()
  if step0 is None:
    check_fresh_start(workdir, ckpts)
    init = functools.partial(_fresh_train_state, config, setup.model, setup.tx)
    return jax.jit(init, out_shardings=setup.state_sharding)(), {"best_valid": None}
  saved = ckpt_lib.read_meta(workdir, ckpt_lib.LATEST, step0)
  _check_resume_config(config, saved, workdir, setup.dataset.n_classes)
  if data is not None:
    check_resume_data(saved, data, config, workdir)
  ckpt_lib.check_model_class(saved, type(setup.model),
                             os.path.join(workdir, ckpt_lib.LATEST, str(step0)))
  target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                        setup.abstract, setup.state_sharding)
  try:
    state, meta = ckpt_lib.restore(workdir, ckpt_lib.LATEST, step0, target)
  except ValueError:  # orbax: the saved tree is not the target's; say where, in one line
    params, _ = ckpt_lib.restore_params(workdir, ckpt_lib.LATEST, step0)
    ckpt_lib.check_params(params, setup.abstract.params,
                          os.path.join(workdir, ckpt_lib.LATEST, str(step0)))
    raise
  _log(f"resumed from {workdir}/{ckpt_lib.LATEST}/{step0}")
  return state, meta


def no_valid_warning(dataset: datasets.Dataset) -> str:
  """What a run without a valid split gives up (packing a class folder with
  one recording a class leaves none)."""
  return (f"{datasets.split_path(dataset.data_dir, 'valid')}: no such file, so the run "
          "never evaluates, keeps no best/ and draws no curves.png")


def check_fresh_start(workdir: str, ckpts: ckpt_lib.Checkpoints) -> None:
  """Refuses to start at step 0 in a workdir whose ``best/`` holds a state but
  whose ``checkpoints/`` holds none (deleted to save space, or the demo's
  folder): the new run's first evaluation would replace that state (``best/``
  keeps one) and its metrics would cut the old ``metrics.jsonl`` back."""
  best = ckpts.best.all_steps()
  if best:
    raise WorkdirError(
        f"workdir={workdir}: holds {ckpt_lib.BEST}/{max(best)} but no "
        f"{ckpt_lib.LATEST}/<step> to resume from; a new run there would replace "
        f"that state. Train in another --workdir, or move {ckpt_lib.BEST}/ away first")


def check_finite(state, workdir: str, saving: bool = False) -> None:
  """Raises TrainingError when the state saw a non-finite loss or gradient,
  saying whether a checkpoint to resume from is there (``saving``: a save
  was started, which the error's clean-up lets finish)."""
  bad = int(jax.device_get(state.nonfinite_step))
  if bad >= 0:
    kept = saving or ckpt_lib.saved_steps(workdir, ckpt_lib.LATEST)
    then = (f"The last good checkpoint in {workdir}/{ckpt_lib.LATEST} is kept: run again "
            "to resume from it" if kept else
            f"No checkpoint was saved before it ({workdir}/{ckpt_lib.LATEST} is empty): "
            "run again to start over")
    raise TrainingError(f"loss or gradients not finite at step {bad}; stopped. {then}, "
                        "e.g. with a lower config.learning_rate")


class Checkpointer:
  """The run's saves: never of a state that saw a non-finite step; a failed
  (background) write becomes a TrainingError naming its step, earlier
  checkpoints intact."""

  def __init__(self, workdir: str, keep: int, meta_of: Callable[[int], dict]):
    self.workdir, self.meta_of = workdir, meta_of
    self.ckpts = ckpt_lib.Checkpoints(workdir, keep)
    self.pending = None  # the step orbax may still be writing in the background

  def _failed(self, e: OSError) -> TrainingError:
    return TrainingError(
        f"{self.workdir}: could not save the checkpoint of step {self.pending} "
        f"({e}); the previous checkpoints are intact. Free space and run again "
        "to resume from the last one")

  def save(self, state, which: str = ckpt_lib.LATEST, item=None) -> None:
    check_finite(state, self.workdir, self.pending is not None)
    step = int(state.step)
    try:
      self.ckpts.wait()  # surfaces a failure of the previous background write
      self.pending = step
      self.ckpts.save(which, step, state if item is None else item, self.meta_of(step))
    except OSError as e:
      raise self._failed(e) from e

  def close(self) -> None:
    try:
      self.ckpts.close()
    except OSError as e:
      raise self._failed(e) from e


class _Run:
  """One call of train_and_evaluate: the host loop around the jitted step."""

  def __init__(self, config, workdir: str, model_cls: type[SampleRNN],
               cost_fn: Callable | None = None):
    self.config, self.workdir = config, workdir
    self.is_main = jax.process_index() == 0
    self.setup = s = make_setup(config, model_cls)
    self.data = data_fingerprint(s.dataset)
    agreement.check_resume_point(workdir, self.data, functools.partial(
        _latest_step, workdir))  # before any folder is made
    os.makedirs(workdir, exist_ok=True)
    _log(f"parameters: {s.n_params}")
    _log(devices_line())
    idle = distributed.idle_gpus_warning(os.environ, jax.local_device_count())
    if idle:
      _log(f"warning: {idle}")
    slow = config_lib.slow_scatter_warning(config)
    if slow:
      _log(f"warning: {slow}")
    if s.dataset.valid is None:
      _log(f"warning: {no_valid_warning(s.dataset)}")
    self.ckpt = Checkpointer(workdir, config.keep_checkpoints, self.meta_of)
    self.writer = None
    try:
      self._start(config, s, workdir, cost_fn)
    except BaseException:  # a failed start (Ctrl-C in the class levels' pass too)
      self.close_quietly()
      raise

  def _start(self, config, s: Setup, workdir: str, cost_fn: Callable | None) -> None:
    """The rest of the start, once the checkpoint managers are open: the
    state restored or made, the metrics writer, the compiled step."""
    self.state, self.meta = restore_or_init(config, s, workdir, self.ckpt.ckpts, self.data)
    self.start = int(self.state.step)
    self.total = config.num_epochs * s.batches.steps_per_epoch
    if config.max_steps:
      self.total = min(self.total, config.max_steps)
    self.eval_every = config.eval_every_steps or s.batches.steps_per_epoch
    self.writer = MetricsWriter(workdir, self.start, enabled=self.is_main)
    resolved = config.to_dict()
    _log(f"config: {json.dumps(resolved, sort_keys=True)}")
    if self.start < self.total:  # a run with nothing to do leaves the record of the last
      self.writer.config(resolved, self.start)
    self.evaluator = Evaluator(s.model, config, s.mesh)
    self.p_train = sharding.under_mesh(jax.jit(
        functools.partial(steps.train_step, s.model, s.tx, cost_fn=cost_fn),
        in_shardings=(s.state_sharding, sharding.batch_sharded(s.mesh)),
        out_shardings=s.state_sharding, donate_argnums=0), s.mesh)
    # The loudness of each class's recordings, which the model never sees
    # (clips are min-max scaled before quantisation): sample.py's default
    # level. Measured once (a pass over the train split); a resumed run keeps
    # its own.
    self.class_rms = self.meta.get("class_rms") or levels.class_rms(
        s.dataset.train.wav, s.dataset.train.sid, s.dataset.n_classes)

  def meta_of(self, step: int) -> dict:
    ds = self.setup.dataset
    pos = self.setup.batches.position(step)
    return {"step": step, "epoch": pos.epoch, "position": vars(pos),
            "best_valid": self.meta.get("best_valid"), "config": self.config.to_dict(),
            "n_classes": ds.n_classes, "class_names": ds.class_names,
            "class_rms": self.class_rms, "data_dir": self.config.data_dir, "data": self.data,
            "model_class": ckpt_lib.class_name(type(self.setup.model))}

  def epoch_of(self, step: int) -> float:
    return step / self.setup.batches.steps_per_epoch

  def flush_metrics(self) -> dict | None:
    """Pulls the train bits summed since the last call; stops on a non-finite step."""
    st = self.state
    check_finite(st, self.workdir, self.ckpt.pending is not None)
    s, n = jax.device_get((st.bits_sum, st.bits_count))
    record = None
    if n > 0:
      step = int(st.step)
      record = {"step": step, "epoch": self.epoch_of(step), "train_bits": float(s / n)}
      self.writer.write(record)
      self.status("running")
    self.state = st.replace(bits_sum=jnp.zeros_like(st.bits_sum),
                            bits_count=jnp.zeros_like(st.bits_count))
    return record

  def evaluate_and_keep_best(self) -> dict:
    """Valid bits; when they are the best so far, test bits and ``best/``."""
    st, ds = self.state, self.setup.dataset
    step = int(st.step)
    record = {"step": step, "epoch": self.epoch_of(step)}
    if ds.valid is None:
      return record
    record["valid_bits"] = self.evaluator(st.params, ds.valid, "valid")
    best = self.meta.get("best_valid")
    if best is None or record["valid_bits"] < best:
      self.meta["best_valid"] = record["valid_bits"]
      if ds.test is not None:
        record["test_bits"] = self.evaluator(st.params, ds.test, "test")
      self.ckpt.save(st, ckpt_lib.BEST, {"params": st.params})
      verdict = f"new best, saved to {ckpt_lib.BEST}/{step}"
    else:
      verdict = f"best valid_bits {best:.4f}, in {ckpt_lib.BEST}/"
    self.writer.write(record)
    self.writer.plot()
    msg = " ".join(f"{k} {v:.4f}" for k, v in record.items() if k.endswith("_bits"))
    _log(f"step {step} epoch {record['epoch']:.2f}: {msg} ({verdict})")
    return record

  def write_samples_if_due(self) -> None:
    """The evaluation's clips (config.sample_every_evals), written after the
    step's checkpoint: a failed write (a full disk) loses no training."""
    config, st = self.config, self.state
    step = int(st.step)
    n_eval = -(-step // self.eval_every)
    if config.sample_every_evals and n_eval % config.sample_every_evals == 0 and self.is_main:
      paths = write_training_samples(config, self.setup.model, st.params,
                                     self.setup.dataset.class_names, step, self.workdir,
                                     self.class_rms)
      self.writer.clips(paths, step)
      if paths:
        _log(f"step {step}: {len(paths)} clips in {os.path.dirname(paths[0])}")

  def finish(self) -> None:
    try:
      self.ckpt.close()
    finally:
      if self.writer is not None:
        self.writer.close()

  def close_quietly(self) -> None:
    """``finish`` where another error is already on its way: the managers'
    and the writer's threads and files closed, a failure to close dropped
    (a notebook that retries would otherwise gather them)."""
    try:
      self.finish()
    except Exception:  # the error that ended the run matters more
      pass

  def run_steps(self, stop: signals.StopRequests, bar: progress.Bar) -> dict:
    """Steps start .. total, or until a stop is requested; the last metrics."""
    last, config = {}, self.config
    for step in range(self.start, self.total):
      batch = sharding.put_batch(self.setup.batches.get(step), self.setup.mesh)
      self.state = self.p_train(self.state, batch)
      if step == self.start:  # the first call compiles; later ones only dispatch
        self.t_compiled = time.time()
      done = step + 1
      bar.update(1)
      is_eval = done % self.eval_every == 0 or done == self.total
      if done % config.log_every_steps == 0 or is_eval:
        rec = self.flush_metrics()
        if rec:
          last.update(rec)
          bar.set_postfix(train_bits=f"{rec['train_bits']:.3f}")
      if is_eval:
        last.update(self.evaluate_and_keep_best())
      if done % config.checkpoint_every_steps == 0 or is_eval:
        self.ckpt.save(self.state)
      if is_eval:
        self.write_samples_if_due()
      if self.stop_now(stop, done % config.log_every_steps == 0 or is_eval):
        break
    return last

  def stop_now(self, stop: signals.StopRequests, synced: bool) -> bool:
    """Whether to stop after this step; sets ``self.stopped`` (the signal).

    One process checks its own flag after every step. Several processes
    decide together (``distributed.agree_on_stop``), at the steps where they
    already wait for the devices (``synced``: log steps and evaluations), so
    that they all save the same step and exit; an exchange after every step
    would stall the dispatch of the next."""
    if jax.process_count() == 1:
      self.stopped = stop.requested
    elif synced:
      self.stopped = distributed.agree_on_stop(stop.requested)
    return bool(self.stopped)

  def on_training_error(self) -> None:
    """Lets the last good checkpoint finish writing before the error propagates."""
    try:
      self.finish()
    except TrainingError:
      pass

  def on_keyboard_interrupt(self) -> None:
    """Ctrl-C raised inside the loop: the state after the last finished step
    is consistent, so it is saved; exits 130."""
    try:
      st = self.state
      if int(st.step) > self.start and int(st.nonfinite_step) < 0:
        self.ckpt.save(st)
    except TrainingError:
      self.close_quietly()
      raise
    except RuntimeError:  # interrupted inside a step: its input was donated
      pass
    self.finish()
    _log(f"interrupted at step {int(self.state.step)}; saved. Run the same command to resume.")
    raise SystemExit(130)

  def status(self, state: str, **extra) -> None:
    """``status.json`` (process 0): the run's state at its last step."""
    if not self.is_main:
      return
    try:
      step = int(self.state.step)
    except RuntimeError:  # a step interrupted inside: its input state was donated
      step = None
    run_status.write(self.workdir, state, step, best_valid_bits=self.meta.get("best_valid"),
                     **extra)

  def train(self) -> dict:
    """The steps, then the files closed; ``status.json`` says how it ended."""
    self.status("running")
    try:
      last = self.train_steps()
    except signals.QuitNow:
      self.status("quit")
      raise
    except SystemExit as e:  # a stop's save done: 128 + the signal
      code = e.code if isinstance(e.code, int) else 0
      self.status("stopped", signal=signal.Signals(code - 128).name if code > 128 else None)
      raise
    except BaseException as e:
      self.status("failed", error=f"{type(e).__name__}: {e}")
      raise
    self.status("finished")
    return last

  def train_steps(self) -> dict:
    if self.start >= self.total:
      _log(f"nothing to do: {self.workdir} is at step {self.start} of {self.total}")
    bar = progress.bar(total=self.total, initial=self.start, desc="train", unit="step",
                       disable=not self.is_main, dynamic_ncols=True)
    self.t0 = self.t_compiled = time.time()
    self.stopped: int | None = None  # the signal that stopped the run
    # SIGINT / SIGTERM: checked between steps; the stop's own save is inside
    # too, where a second Ctrl-C quits at once (signals.StopRequests)
    with signals.StopRequests() as stop:
      try:
        last = self.steps_then_stop(stop, bar)
      except signals.QuitNow:  # a second Ctrl-C in a notebook: no save, the kernel lives
        bar.close()
        self.close_quietly()
        raise
    self.finish()
    self.log_speed()
    return last

  def steps_then_stop(self, stop: signals.StopRequests, bar: progress.Bar) -> dict:
    """``run_steps``; on a stop request (or Ctrl-C raised inside a step)
    the state after the last finished step saved, then SystemExit(128 +
    signal); the last metrics when the steps ran out."""
    try:
      last = self.run_steps(stop, bar)
    except Exception:  # a failed step, save or sample write: let the saves finish
      bar.close()
      self.on_training_error()
      raise
    except signals.QuitNow:
      raise
    except KeyboardInterrupt:
      bar.close()
      self.on_keyboard_interrupt()
    bar.close()
    self.stop_now(stop, synced=False)  # one process: a signal after the last check too
    if self.stopped:  # the state after the last finished step: keep it
      try:
        self.ckpt.save(self.state)
      except Exception:  # a non-finite state, a full disk: the earlier saves finish
        self.on_training_error()
        raise
      self.finish()
      name = signal.Signals(self.stopped).name
      _log(f"{name} at step {int(self.state.step)}; saved. Run the same command to resume.")
      raise SystemExit(128 + self.stopped)
    return last

  def log_speed(self) -> None:
    done = self.total - self.start
    if done <= 0:
      return
    now, per_step = time.time(), self.config.batch_size * self.config.seq_len
    msg = f"done: step {self.total}, {done * per_step / (now - self.t0):,.0f} samples/s"
    if done > 1:
      msg += (f" ({(done - 1) * per_step / (now - self.t_compiled):,.0f} after "
              "compiling, evaluations and checkpoints included)")
    _log(msg)
