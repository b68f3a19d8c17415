"""The cost of a model on a split: mean bits per target sample (jitted).

``Evaluator``: the code of validation and testing in train.py and of
``score`` (scripts/score.py, a checkpoint's cost on any npz):
every clip of the split once, chunk by chunk (TBPTT, ``batches.eval_batches``),
the RNN state carried from chunk to chunk of a clip.
"""
from __future__ import annotations

import functools
import math
import os
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from samplernn_jax import batches as batches_lib
from samplernn_jax import checkpoint as ckpt_lib
from samplernn_jax import config as config_lib
from samplernn_jax import progress, sharding, splits, steps
from samplernn_jax.model import SampleRNN
from samplernn_jax.splits import Split
from samplernn_jax.files import not_a_folder


class Evaluator:
  """Mean bits per sample over every target sample of a split (jitted).

  ``config``: the run's (seq_len, q_type, q_levels, dither, frame sizes,
  eval_batch_size or batch_size, max_eval_clips); ``mesh``: the devices
  (None: ``sharding.make_mesh()``, every device)."""

  def __init__(self, model, config, mesh=None):
    mesh = sharding.make_mesh() if mesh is None else mesh
    self.model, self.config, self.mesh = model, config, mesh
    self.batch_size = config.eval_batch_size or config.batch_size
    sharding.check_batch_size(self.batch_size, mesh, "config.eval_batch_size")
    state_sh = sharding.batch_sharded(mesh)
    self._step = sharding.under_mesh(jax.jit(
        functools.partial(steps.eval_step, model),
        out_shardings=(sharding.replicated(mesh),) * 2 + (state_sh,)), mesh)

  def __call__(self, params, split: Split, desc: str = "eval") -> float:
    c = self.config
    splits.check_split(split, self.model.n_classes)
    if c.max_eval_clips and split.num_clips > c.max_eval_clips:
      keep = spread_indices(split.num_clips, c.max_eval_clips)
      split = Split(split.path, split.wav[keep], split.sid[keep])
    carried = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype),
                           steps.initial_rnn_state(self.model, params, self.batch_size))
    carried = jax.device_put(carried, sharding.batch_sharded(self.mesh))
    total = count = 0.0
    fs = config_lib.frame_sizes(c)
    batches = batches_lib.eval_batches(
        split, self.batch_size, c.seq_len, fs[0], c.q_type, c.q_levels,
        jax.process_index(), jax.process_count(), dither=c.dither)
    n = (math.ceil(split.num_clips / self.batch_size)
         * batches_lib.num_chunks(split.clip_len, c.seq_len))
    for batch in progress.bar(batches, total=n, desc=desc, leave=False,
                              disable=jax.process_index() != 0):
      bits, cnt, carried = self._step(params, carried, sharding.put_batch(batch, self.mesh))
      total, count = total + bits, count + cnt
    return float(total / count)


def spread_indices(n: int, k: int) -> np.ndarray:
  """k of the indices 0 .. n-1 (k <= n), spread evenly and including 0: the
  clips ``max_eval_clips`` keeps, so that a split in class order (as packed)
  keeps clips of every class, not the first classes' only."""
  return np.linspace(0, n - 1, k).round().astype(np.int64)


def check_class_names(trained: list[str] | None, data_path: str) -> None:
  """Refuses an npz whose ``classes.json`` (beside it) names the classes
  otherwise than the checkpoint (``trained``): its sids would condition the
  model on other classes. Nothing to compare when either side has only
  indices (no classes.json at training, or none beside the npz)."""
  folder = os.path.dirname(os.path.abspath(data_path))
  if not trained or trained == [str(i) for i in range(len(trained))]:
    return
  if not os.path.isfile(os.path.join(folder, splits.CLASSES_FILE)):
    return
  names = splits.load_class_names(folder, 0)
  if names != list(trained):
    raise ValueError(
        f"{os.path.join(folder, splits.CLASSES_FILE)}: classes {names}; the checkpoint was "
        f"trained on {list(trained)} (sid k is the k-th): pack the data with the "
        "checkpoint's classes, in its order")


def score(workdir: str, data_path: str, ckpt: str = "best",
          overrides: Mapping[str, Any] | None = None,
          model_cls: type[SampleRNN] = SampleRNN) -> dict:
  """Mean bits per target sample of a checkpoint over every clip of an npz.

  The model config is the checkpoint's; ``overrides`` may change only keys
  outside ``config.MODEL_KEYS`` (e.g. eval_batch_size, seq_len, dtype).
  ``max_eval_clips`` of the training config is ignored (every clip counts)
  unless overridden; ``model_cls`` is the class that trained the checkpoint
  (SampleRNN or a subclass). Returns ``{"bits", "clips", "samples"}``, samples being
  the number of target samples scored (clips x clip length).
  """
  overrides = dict(overrides or {})
  model_keys = [k for k in overrides if k.split(".")[0] in config_lib.MODEL_KEYS]
  if model_keys:
    raise ValueError(f"config.{model_keys[0]} changes the model; score.py takes the "
                     "model from the checkpoint's config (model keys: "
                     f"{', '.join(config_lib.MODEL_KEYS)})")
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"workdir {workdir}: {not_a_folder(workdir)}")
  # parameters and meta read together, first: a run training in the workdir
  # may remove the step while the split loads
  sub, step, params, meta = ckpt_lib.restore_chosen(workdir, ckpt)
  where = os.path.join(workdir, sub, str(step))
  ckpt_lib.check_model_class(meta, model_cls, where)
  config = config_lib.from_saved(meta.get("config"), where)
  config.max_eval_clips = 0
  for key, value in overrides.items():
    config[key] = value
  config_lib.validate(config)
  n_classes = ckpt_lib.n_classes_of(meta, config, where)
  model = config_lib.build_model(config, n_classes, model_cls)
  check_class_names(meta.get("class_names"), data_path)
  split = splits.load_split(data_path, n_classes=n_classes,  # before the big read
                            sample_rate=config.sample_rate,
                            rate_setting=f"the rate the checkpoint {where} was trained at")
  clips = split.num_clips
  if config.max_eval_clips:
    clips = min(clips, config.max_eval_clips)

  mesh = sharding.make_mesh()
  if "eval_batch_size" not in overrides:  # no batch of padding rows beyond need
    n_dev = mesh.devices.size
    config.eval_batch_size = min(config.eval_batch_size or config.batch_size,
                                 -(-clips // n_dev) * n_dev)
  ckpt_lib.check_params(params, steps.abstract_params(model, config.seq_len),
                        os.path.join(workdir, sub, str(step)))
  params = sharding.put_replicated(params, mesh)
  bits = Evaluator(model, config, mesh)(params, split, "score")
  return {"bits": bits, "clips": clips, "samples": clips * split.clip_len}
