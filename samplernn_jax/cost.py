"""The cost of a model on a split: mean bits per target sample (jitted).

The code of validation and testing in train.py and of scripts/score.py:
every clip of the split once, chunk by chunk (TBPTT, ``batches.eval_batches``),
the RNN state carried from chunk to chunk of a clip.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from tqdm import tqdm

from samplernn_jax import batches as batches_lib
from samplernn_jax import config as config_lib
from samplernn_jax import sharding, steps
from samplernn_jax.splits import Split


class Evaluator:
  """Mean bits per sample over every target sample of a split (jitted)."""

  def __init__(self, model, config, mesh):
    self.model, self.config, self.mesh = model, config, mesh
    self.batch_size = config.eval_batch_size or config.batch_size
    sharding.check_batch_size(self.batch_size, mesh, "config.eval_batch_size")
    state_sh = sharding.batch_sharded(mesh)
    self._step = jax.jit(functools.partial(steps.eval_step, model),
                         out_shardings=(sharding.replicated(mesh),) * 2 + (state_sh,))

  def __call__(self, params, split: Split, desc: str = "eval") -> float:
    c = self.config
    if c.max_eval_clips and split.num_clips > c.max_eval_clips:
      split = Split(split.path, split.wav[:c.max_eval_clips],
                             split.sid[:c.max_eval_clips])
    carried = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype),
                           steps.initial_rnn_state(self.model, params, self.batch_size))
    carried = jax.device_put(carried, sharding.batch_sharded(self.mesh))
    total = count = 0.0
    fs = config_lib.frame_sizes(c)
    batches = batches_lib.eval_batches(
        split, self.batch_size, c.seq_len, fs[0], c.q_type, c.q_levels,
        jax.process_index(), jax.process_count(), dither=c.dither)
    n = math.ceil(split.num_clips / self.batch_size) * batches_lib.num_chunks(split.clip_len, c.seq_len)
    for batch in tqdm(batches, total=n, desc=desc, leave=False,
                      disable=jax.process_index() != 0):
      bits, cnt, carried = self._step(params, carried, sharding.put_batch(batch, self.mesh))
      total, count = total + bits, count + cnt
    return float(total / count)
