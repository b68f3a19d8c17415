"""The train state and the pure step functions (jitted by the trainer).

``train_step(model, tx, state, batch) -> state`` runs one TBPTT chunk (not
jitted here: the trainer jits it with ``model`` and ``tx`` bound, e.g.
``jax.jit(functools.partial(train_step, model, tx))``): the RNN state
starts from h0 in rows whose ``reset`` flag is set (the first chunk of a
batch of clips) and from the carried state elsewhere; gradients stop at the
chunk boundary. The loss is the masked mean cross-entropy in bits per sample
over the whole (global) batch. Training metrics accumulate inside the state
and leave the device only when the host logs them.

A batch is a dict of arrays, all with the batch axis first:
  chunk  int32 [B, L]    quantised samples (L = T + S)
  mask   float32 [B, T]  1 on real target samples
  sid    int32 [B]       class index
  reset  bool [B]        start from h0 (first chunk of a clip)
and optionally
  cond   float32 [B, C]  conditioning vectors, used instead of one_hot(sid):
                         a variant's own batches (e.g. continuous features)
"""
from __future__ import annotations

import math
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import optax

from samplernn_jax.model import SampleRNN, State, log_probs

LN2 = math.log(2.0)


@flax.struct.dataclass
class TrainState:
  step: jax.Array          # int32 []: training steps done
  params: Any              # the model's parameters (flax 'params' collection)
  opt_state: Any           # optax state of clip + Adam
  rnn_state: State         # per tier [B, R, D]: carried from chunk to chunk of a batch
  bits_sum: jax.Array      # float32 []: sum of train bits since the last log
  bits_count: jax.Array    # float32 []: finite steps in that sum
  nonfinite_step: jax.Array  # int32 []: first step whose loss or gradient was not finite; -1


def make_optimizer(config) -> optax.GradientTransformation:
  """Element-wise clip to [-grad_clip, grad_clip], then Adam (the paper)."""
  adam = optax.adam(config.learning_rate)
  if config.grad_clip and config.grad_clip > 0:
    return optax.chain(optax.clip(config.grad_clip), adam)
  return adam


def class_vectors(sid: jax.Array, n_classes: int) -> jax.Array:
  """One-hot [B, C] of ``sid`` [B]; sid -1 (a clip trained without its
  class, ``config.cond_dropout``) gives the zero vector, and so would a sid
  of C or more: the splits are checked for that before (``splits.check_split``)."""
  return jax.nn.one_hot(sid, n_classes, dtype=jnp.float32)


def _init_params(model: SampleRNN, key: jax.Array, seq_len: int) -> Any:
  top = model.frame_sizes[0]
  chunk = jnp.zeros((1, seq_len + top), jnp.int32)
  # the tiers' own state shapes (a variant's tier may carry another width)
  shapes, _ = jax.eval_shape(lambda k: model.init_with_output(k, 1, method="initial_state"), key)
  state = tuple(jnp.zeros(s.shape, s.dtype) for s in shapes)
  return model.init(key, chunk, jnp.zeros((1, model.n_classes)), state)["params"]


_init_params_jit = jax.jit(_init_params, static_argnums=(0, 2))


def init_params(model: SampleRNN, key: jax.Array, seq_len: int) -> Any:
  """The model's parameters (the flax 'params' collection), initialised from
  ``key`` by tracing one chunk of ``seq_len`` samples (a multiple of the top
  frame size; the parameters' shapes do not depend on it).

  Jitted: run eagerly, the forward pass of the trace dispatched hundreds of
  small ops one by one (on 2 CPU cores, a model of new shapes: 2-8 s eager,
  under 2 s jitted; the same parameters to the bit for the default and the
  paper's configs). Compiled once per model and length (a model is a static
  argument); a variant whose fields cannot be hashed is traced afresh."""
  top = model.frame_sizes[0]
  if seq_len < top or seq_len % top:
    raise ValueError(f"seq_len={seq_len}: expected a positive multiple of the top frame "
                     f"size {top}")
  try:
    hash(model)
  except TypeError:
    return jax.jit(lambda k: _init_params(model, k, seq_len))(key)
  return _init_params_jit(model, key, seq_len)


def abstract_params(model: SampleRNN, seq_len: int) -> Any:
  """The shapes and dtypes of ``init_params`` (``jax.ShapeDtypeStruct``
  leaves), without computing or allocating anything."""
  return jax.eval_shape(lambda: init_params(model, jax.random.key(0), seq_len))


def initial_rnn_state(model: SampleRNN, params: Any, batch: int) -> State:
  """Every tier's RNN state at the start of a clip (h0, learned when
  ``learn_h0``), broadcast to ``batch`` rows: per tier [batch, R, D]."""
  return model.apply({"params": params}, batch, method="initial_state")


def init_state(model: SampleRNN, tx, key: jax.Array, batch_size: int, seq_len: int) -> TrainState:
  """Step 0 of a run: fresh parameters, the optimizer ``tx``'s state, h0 for
  ``batch_size`` rows, empty metric sums."""
  params = init_params(model, key, seq_len)
  return TrainState(
      step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
      rnn_state=initial_rnn_state(model, params, batch_size),
      bits_sum=jnp.zeros((), jnp.float32), bits_count=jnp.zeros((), jnp.float32),
      nonfinite_step=jnp.full((), -1, jnp.int32))


def _start_state(model, params, carried: State, reset: jax.Array) -> State:
  h0 = initial_rnn_state(model, params, reset.shape[0])
  sel = lambda a, b: jnp.where(reset[:, None, None], a, b)
  return jax.tree.map(sel, h0, carried)


def check_chunk(model: SampleRNN, batch: dict) -> None:
  """ValueError unless ``batch``'s chunk is [B, T + S] with T a multiple of
  the top frame size S and its mask [B, T] (shapes are static: checked once,
  when a step is traced)."""
  top = model.frame_sizes[0]
  shape, mask = tuple(batch["chunk"].shape), tuple(batch["mask"].shape)
  if len(shape) != 2 or shape[1] <= top or (shape[1] - top) % top:
    raise ValueError(f"batch['chunk'] of shape {shape}: expected [B, T + {top}] with T a "
                     f"positive multiple of the top frame size {top} (the targets and the "
                     "frame before them, as batches.chunk makes)")
  if mask != (shape[0], shape[1] - top):
    raise ValueError(f"batch['mask'] of shape {mask}: expected [{shape[0]}, {shape[1] - top}], "
                     f"one weight per target of batch['chunk'] {shape}")


def chunk_cost(model: SampleRNN, params, batch: dict, carried: State):
  """(sum of target bits, number of targets, last state) of one chunk."""
  check_chunk(model, batch)
  top = model.frame_sizes[0]
  h = _start_state(model, params, carried, batch["reset"])
  cond = batch["cond"] if "cond" in batch else class_vectors(batch["sid"], model.n_classes)
  logits, h_out = model.apply({"params": params}, batch["chunk"], cond, h)
  lp = log_probs(logits, batch["chunk"][:, top:])  # [B, T]
  return -(lp * batch["mask"]).sum() / LN2, batch["mask"].sum(), h_out


def train_step(model: SampleRNN, tx, state: TrainState, batch: dict,
               cost_fn: Callable | None = None) -> TrainState:
  """One optimizer step on one chunk. ``cost_fn(model, params, batch,
  carried)`` -> (cost sum, target count, last state) is what is minimised
  (``chunk_cost``, the bits, by default; a variant's own loss: README, "A
  variant in your own code"); the metric ``train_bits`` is its mean.

  A step whose loss or any gradient element is not finite leaves the
  parameters, the optimizer and RNN states and the metric sums as they were;
  it counts in ``step``, and ``nonfinite_step`` keeps the first such step
  (-1: none): a loop of
  your own polls it (the trainer stops there, ``trainer.check_finite``)."""
  cost = chunk_cost if cost_fn is None else cost_fn

  def loss_fn(params):
    bits, count, h_out = cost(model, params, batch, state.rnn_state)
    return bits / jnp.maximum(count, 1.0), jax.lax.stop_gradient(h_out)

  (loss, h_out), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
      [jnp.isfinite(g).all() for g in jax.tree.leaves(grads)]))
  # A non-finite step changes nothing but the record of where it happened.
  keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(finite, a, b), new, old)
  return TrainState(
      step=state.step + 1,
      params=keep(params, state.params),
      opt_state=keep(opt_state, state.opt_state),
      rnn_state=keep(h_out, state.rnn_state),
      bits_sum=state.bits_sum + jnp.where(finite, loss, 0.0),
      bits_count=state.bits_count + jnp.where(finite, 1.0, 0.0),
      nonfinite_step=jnp.where((state.nonfinite_step < 0) & ~finite,
                               state.step, state.nonfinite_step))


def eval_step(model: SampleRNN, params, carried: State, batch: dict):
  """(bits sum, target count, last state) of one chunk, without gradients.

  The carried state comes before the batch, as a scan body's (carry, x):
  the other order from ``chunk_cost``'s."""
  return chunk_cost(model, params, batch, carried)
