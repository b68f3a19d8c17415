"""The training loop: ``train_and_evaluate(config, workdir)``.

The host loop only feeds batches, logs, evaluates and checkpoints; the work is
in the jitted, data-parallel ``steps.train_step``. A step number fully
determines its data (``data.TrainBatches``), and the state holds everything
else (parameters, optimizer, carried RNN state, metric sums), so a run resumed
from any checkpoint continues exactly as an unbroken run.
"""
from __future__ import annotations

import functools
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from samplernn_jax import checkpoint as ckpt_lib
from samplernn_jax import config as config_lib
from samplernn_jax import data as data_lib
from samplernn_jax import levels
from samplernn_jax import sample_files
from samplernn_jax import sharding, signals, steps
from samplernn_jax import workdir as workdir_lib
from samplernn_jax.metrics import MetricsWriter

# Keys a resumed run must share with its checkpoint (besides the model's).
RESUME_KEYS = ("batch_size", "seq_len", "seed", "dither")


class TrainingError(RuntimeError):
  """The run cannot go on (non-finite loss, incompatible workdir...)."""


def count_params(params) -> int:
  return int(sum(np.prod(p.shape) for p in jax.tree.leaves(params)))


def param_count(config, n_classes: int) -> int:
  """Parameters of the model a config describes, without allocating them."""
  model = config_lib.build_model(config, n_classes)
  shapes = jax.eval_shape(lambda: steps.init_params(model, jax.random.key(0), config.seq_len))
  return count_params(shapes)


def _log(msg: str) -> None:
  if jax.process_index() == 0:
    tqdm.write(msg)


def _check_resume_config(config, meta: dict, workdir: str, n_classes: int) -> None:
  saved = dict(meta.get("config", {}))
  if "n_classes" in saved:
    # 0 means "count from the data": compare the counts actually used.
    saved["n_classes"] = meta.get("n_classes", saved["n_classes"])
  config = config.copy_and_resolve_references()
  config.n_classes = n_classes
  keys = config_lib.MODEL_KEYS + RESUME_KEYS
  norm = lambda v: list(v) if isinstance(v, (tuple, list)) else v
  diff = [k for k in keys if k in saved and norm(saved[k]) != norm(config[k])]
  if diff:
    detail = ", ".join(f"{k}: checkpoint {saved[k]!r} vs config {config[k]!r}" for k in diff)
    raise TrainingError(
        f"{workdir}: its checkpoint was trained with a different config ({detail}); "
        "use another --workdir or the checkpoint's values")


class Evaluator:
  """Mean bits per sample over every target sample of a split (jitted)."""

  def __init__(self, model, config, mesh):
    self.model, self.config, self.mesh = model, config, mesh
    self.batch_size = config.eval_batch_size or config.batch_size
    sharding.check_batch_size(self.batch_size, mesh, "config.eval_batch_size")
    state_sh = sharding.batch_sharded(mesh)
    self._step = jax.jit(functools.partial(steps.eval_step, model),
                         out_shardings=(sharding.replicated(mesh),) * 2 + (state_sh,))

  def __call__(self, params, split: data_lib.Split, desc: str = "eval") -> float:
    c = self.config
    if c.max_eval_clips and split.num_clips > c.max_eval_clips:
      split = data_lib.Split(split.path, split.wav[:c.max_eval_clips],
                             split.sid[:c.max_eval_clips])
    carried = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype),
                           steps.initial_rnn_state(self.model, params, self.batch_size))
    carried = jax.device_put(carried, sharding.batch_sharded(self.mesh))
    total = count = 0.0
    fs = config_lib.frame_sizes(c)
    batches = data_lib.eval_batches(
        split, self.batch_size, c.seq_len, fs[0], c.q_type, c.q_levels,
        jax.process_index(), jax.process_count(), dither=c.dither)
    n = math.ceil(split.num_clips / self.batch_size) * data_lib.num_chunks(split.clip_len, c.seq_len)
    for batch in tqdm(batches, total=n, desc=desc, leave=False,
                      disable=jax.process_index() != 0):
      bits, cnt, carried = self._step(params, carried, sharding.put_batch(batch, self.mesh))
      total, count = total + bits, count + cnt
    return float(total / count)


def write_training_samples(config, model, params, class_names, step: int,
                           workdir: str, class_rms=None) -> None:
  """A few clips per class into ``workdir/samples/train_<step>`` (the paper's
  habit), at sample.py's default level and temperature."""
  loaded = sample_files.Loaded(model, jax.device_get(params), config, class_names, step,
                               class_rms, os.path.abspath(workdir), f"train/{step}")
  req = sample_files.make_request(class_names, None, config.sample_per_class, None)
  out = os.path.join(workdir, "samples", f"train_{step}")
  sample_files.write_samples(loaded, out, req, config.sample_seconds,
                             seed=config.seed, overwrite=True, progress=False)


def train_and_evaluate(config, workdir: str) -> dict:
  """Trains (or resumes) the run in ``workdir``; returns the last metrics.

  Only one run may use a workdir at a time (a lock; a clear error for the
  second).
  """
  config_lib.validate(config)
  if jax.process_index() != 0:
    return _train(config, workdir)
  with workdir_lib.WorkdirLock(workdir):
    workdir_lib.check_writable(workdir)
    return _train(config, workdir)


def _train(config, workdir: str) -> dict:
  fs = config_lib.frame_sizes(config)
  dataset = data_lib.open_dataset(config.data_dir, config.n_classes,
                                  min_len=None, synthetic_seed=config.seed)
  model = config_lib.build_model(config, dataset.n_classes)
  mesh = sharding.make_mesh()
  sharding.check_batch_size(config.batch_size, mesh)
  batches = data_lib.TrainBatches(
      dataset.train, config.batch_size, config.seq_len, fs[0], config.q_type,
      config.q_levels, config.seed, jax.process_index(), jax.process_count(),
      dither=config.dither)
  tx = steps.make_optimizer(config)
  is_main = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)

  # The state: restored when the workdir has a checkpoint, else initialised.
  make_state = lambda: steps.init_state(model, tx, jax.random.key(config.seed),
                                        config.batch_size, config.seq_len)
  abstract = jax.eval_shape(make_state)
  rep, data_sh = sharding.replicated(mesh), sharding.batch_sharded(mesh)
  state_sharding = jax.tree.map(lambda _: rep, abstract)
  state_sharding = state_sharding.replace(
      rnn_state=jax.tree.map(lambda _: data_sh, abstract.rnn_state))
  n_params = count_params(abstract.params)
  _log(f"parameters: {n_params}")
  ckpts = ckpt_lib.Checkpoints(workdir, config.keep_checkpoints)
  meta = {"best_valid": None}
  if ckpts.latest.latest_step() is not None:
    step0 = ckpts.latest.latest_step()
    saved = ckpt_lib.read_meta(workdir, ckpt_lib.LATEST, step0)
    _check_resume_config(config, saved, workdir, dataset.n_classes)
    target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                          abstract, state_sharding)
    state, meta = ckpt_lib.restore(workdir, ckpt_lib.LATEST, step0, target)
    _log(f"resumed from {workdir}/{ckpt_lib.LATEST}/{step0}")
  else:
    state = jax.jit(make_state, out_shardings=state_sharding)()
  start = int(state.step)

  steps_per_epoch = batches.steps_per_epoch
  total = config.num_epochs * steps_per_epoch
  if config.max_steps:
    total = min(total, config.max_steps)
  eval_every = config.eval_every_steps or steps_per_epoch
  writer = MetricsWriter(workdir, start, enabled=is_main)
  evaluator = Evaluator(model, config, mesh)
  p_train = jax.jit(functools.partial(steps.train_step, model, tx),
                    in_shardings=(state_sharding, data_sh), out_shardings=state_sharding,
                    donate_argnums=0)

  # The loudness of each class's recordings, which the model never sees
  # (clips are min-max scaled before quantisation): sample.py's default level.
  # Measured once (a pass over the train split); a resumed run keeps its own.
  class_rms = meta.get("class_rms") or levels.class_rms(
      dataset.train.wav, dataset.train.sid, dataset.n_classes)

  def meta_now(step):
    pos = batches.position(step)
    return {"step": step, "epoch": pos.epoch, "position": vars(pos),
            "best_valid": meta.get("best_valid"), "config": config.to_dict(),
            "n_classes": dataset.n_classes, "class_names": dataset.class_names,
            "class_rms": class_rms, "data_dir": config.data_dir}

  def check_finite(st):
    bad = int(jax.device_get(st.nonfinite_step))
    if bad >= 0:
      raise TrainingError(
          f"loss or gradients not finite at step {bad}; stopped. The last good "
          f"checkpoint in {workdir}/{ckpt_lib.LATEST} is kept: run again to resume "
          "from it, e.g. with a lower --config.learning_rate")

  pending = {"step": None}  # the step orbax may still be writing in the background

  def save_failed(e):
    return TrainingError(
        f"{workdir}: could not save the checkpoint of step {pending['step']} "
        f"({e}); the previous checkpoints are intact. Free space and run again "
        "to resume from the last one")

  def save(st, which=ckpt_lib.LATEST, item=None):
    check_finite(st)  # never save a state that saw a non-finite step
    try:
      ckpts.wait()  # surfaces a failure of the previous background write
      pending["step"] = int(st.step)
      ckpts.save(which, int(st.step), st if item is None else item, meta_now(int(st.step)))
    except OSError as e:
      raise save_failed(e) from e

  def finish():
    try:
      ckpts.close()
    except OSError as e:
      raise save_failed(e) from e
    finally:
      writer.close()

  def flush_metrics(st):
    """Pulls the accumulated train bits; stops on a non-finite step."""
    check_finite(st)
    s, n = jax.device_get((st.bits_sum, st.bits_count))
    record = None
    if n > 0:
      record = {"step": int(st.step), "epoch": int(st.step) / steps_per_epoch,
                "train_bits": float(s / n)}
      writer.write(record)
    return st.replace(bits_sum=jnp.zeros_like(st.bits_sum),
                      bits_count=jnp.zeros_like(st.bits_count)), record

  def run_eval(st):
    record = {"step": int(st.step), "epoch": int(st.step) / steps_per_epoch}
    if dataset.valid is None:
      return record
    record["valid_bits"] = evaluator(st.params, dataset.valid, "valid")
    best = meta.get("best_valid")
    if best is None or record["valid_bits"] < best:
      meta["best_valid"] = record["valid_bits"]
      if dataset.test is not None:
        record["test_bits"] = evaluator(st.params, dataset.test, "test")
      save(st, ckpt_lib.BEST, {"params": st.params})
    writer.write(record)
    writer.plot()
    n_eval = -(-int(st.step) // eval_every)
    if config.sample_every_evals and n_eval % config.sample_every_evals == 0 and is_main:
      write_training_samples(config, model, st.params, dataset.class_names,
                             int(st.step), workdir, class_rms)
    msg = " ".join(f"{k} {v:.4f}" for k, v in record.items() if k.endswith("_bits"))
    _log(f"step {record['step']} epoch {record['epoch']:.2f}: {msg}")
    return record

  last = {}
  if start >= total:
    _log(f"nothing to do: {workdir} is at step {start} of {total}")
  bar = tqdm(total=total, initial=start, desc="train", unit="step",
             disable=not is_main, dynamic_ncols=True)
  t0 = t_compiled = time.time()
  with signals.StopRequests() as stop:  # SIGINT / SIGTERM: checked between steps
    try:
      for step in range(start, total):
        batch = sharding.put_batch(batches.get(step), mesh)
        state = p_train(state, batch)
        if step == start:  # the first call compiles; later ones only dispatch
          t_compiled = time.time()
        done = step + 1
        bar.update(1)
        is_eval = done % eval_every == 0 or done == total
        if done % config.log_every_steps == 0 or is_eval:
          state, rec = flush_metrics(state)
          if rec:
            last.update(rec)
            bar.set_postfix(train_bits=f"{rec['train_bits']:.3f}")
        if is_eval:
          last.update(run_eval(state))
        if done % config.checkpoint_every_steps == 0 or is_eval:
          save(state)
        if stop.requested:
          break
    except TrainingError:
      bar.close()
      try:  # let the last good checkpoint finish writing
        finish()
      except TrainingError:
        pass
      raise
    except KeyboardInterrupt:
      bar.close()
      # The state after the last finished step is consistent: keep it.
      try:
        if int(state.step) > start and int(state.nonfinite_step) < 0:
          save(state)
      except TrainingError:
        raise
      except RuntimeError:  # interrupted inside a step: its input was donated
        pass
      finish()
      _log(f"interrupted at step {int(state.step)}; saved. Run the same command to resume.")
      raise SystemExit(130)
  bar.close()
  if stop.requested:  # the state after the last finished step: keep it
    save(state)
    finish()
    _log(f"{stop.name} at step {int(state.step)}; saved. Run the same command to resume.")
    raise SystemExit(stop.exit_code)
  finish()
  if total > start:
    now, per_step = time.time(), config.batch_size * config.seq_len
    msg = f"done: step {total}, {(total - start) * per_step / (now - t0):,.0f} samples/s"
    if total - start > 1:
      msg += (f" ({(total - start - 1) * per_step / (now - t_compiled):,.0f} after "
              f"compiling, evaluations and checkpoints included)")
    _log(msg)
  return last
