"""Conditional SampleRNN: frame tiers (GRU/LSTM) over a sample-level MLP.

Shape glossary (of the model, layers, gru, steps, batches, splits, quantize,
audio, trim and packing modules; sampling.py, kernels.py, levels.py and the
evaluation state their own letters):
  B  batch (clips)            T  target samples in a chunk (config.seq_len)
  K  frame tiers              S  top tier's frame size (16 in the paper)
  s  a tier's frame size      F  frames of a tier in a chunk (T / s)
  L  samples in a chunk, T + S (the first S only feed the tiers)
  H  hidden size (config.dim) D  RNN state size per layer (H; 2H for LSTM)
  R  RNN layers (config.n_rnn) Q  quantisation levels (config.q_levels)
  C  classes                  E  sample embedding size (config.emb_size)
  N  clips of a split         W  samples in a whole clip (data files)
  P  samples in a trim frame (trim.py: 20 ms)
  Cd conditioning features: C for the one-hot, config.cond_emb_size embedded
  I, O  a dense layer's input and output features; G gates (3 GRU, 4 LSTM)
(sampling.py states its own: there N is the samples generated per clip.)

The tiers, top first, have frame sizes ``frame_sizes = (s_0, ..., s_{K-1})``
(the paper: ``(16,)``; the ICLR 2017 three-tier model: ``(8, 2)``). Tier k sees
the s_k samples before each of its frames (dequantised to about [-2, 2]);
the top tier also sees the class vector (the paper's conditioning). Each tier
outputs ``s_k / s_{k+1}`` vectors of size H per frame, one for each frame of
the tier below (the last tier: one for each sample), which the lower tier
adds to a projection of its own input. The sample tier embeds the previous
``s_{K-1}`` samples, adds the conditioning vector of the sample's position and
runs an MLP to Q logits.

The class input is a vector [B, C]: one-hot for a class, any convex mix of
one-hots for interpolation between scenes.
"""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from samplernn_jax import precision
from samplernn_jax import quantize as quant
from samplernn_jax.layers import (RNN_TYPES, RNNLayer, WNDense, check_choice, embedding_tables,
                                  state_size, table_sum)

Array = jax.Array
State = tuple  # one [B, R, D] array per frame tier

# SampleTier.l1_impl forms whose look-up gradient is a one-hot matmul (XLA's
# or the Pallas kernel's); 'matmul' and 'table' take autodiff's scatter-adds.
ONE_HOT_GRAD_L1 = ("table_mm", "table_pallas")
L1_IMPLS = ("matmul", "table", *ONE_HOT_GRAD_L1)
SAMPLE_INPUTS = ("embedding", "one_hot", "real")
COND_TYPES = ("one_hot", "embedding")


class FrameTier(nn.Module):
  """One frame tier: optional input expansion, stacked RNN, output projection.

  Parameters: ``h0`` [R, D] (learn_h0), ``input_expand`` (tiers below the
  top), ``rnn{l}``, ``skip{l}`` (skip_conn), ``output`` [H, ratio * H].
  Its frame size is the width of its input, less the class vector's on the
  top tier (SampleRNN.tier checks the frames).
  """
  ratio: int  # output vectors per frame
  dim: int
  n_rnn: int
  rnn_type: str
  skip_conn: bool
  weight_norm: bool
  learn_h0: bool
  is_top: bool
  rnn_unroll: int = 1  # frame steps per iteration of each RNN layer's scan
  rnn_kernel: str = "xla"  # RNNLayer.kernel
  dtype: Any = jnp.float32
  # A variant's own recurrent layer: built as RNNLayer is (hidden size, rnn_type,
  # unroll, kernel, weight_norm, dtype, name), called as (x [B, F, I],
  # h [B, D]) -> (out [B, F, H], last state [B, D]). A class attribute.
  rnn_layer_class = RNNLayer

  def setup(self):
    wn = dict(weight_norm=self.weight_norm, dtype=self.dtype)
    if not self.is_top:
      self.input_expand = WNDense(self.dim, **wn)
    self.rnns = [self.rnn_layer_class(self.dim, self.rnn_type, unroll=self.rnn_unroll,
                                      kernel=self.rnn_kernel, name=f"rnn{l}", **wn)
                 for l in range(self.n_rnn)]
    if self.skip_conn:
      self.skips = [WNDense(self.dim, use_bias=(l == 0), name=f"skip{l}", **wn)
                    for l in range(self.n_rnn)]
    self.output = WNDense(self.ratio * self.dim, init_type="he", **wn)
    if self.learn_h0:
      self.h0_param = self.param("h0", nn.initializers.zeros,
                                 (self.n_rnn, self.state_size))

  @property
  def state_size(self) -> int:
    return state_size(self.rnn_type, self.dim)

  def h0(self) -> Array:
    """The initial state [R, D] (zeros unless learn_h0)."""
    if self.learn_h0:
      return self.h0_param
    return jnp.zeros((self.n_rnn, self.state_size))

  def __call__(self, x: Array, upper: Array | None, h: Array) -> tuple[Array, Array]:
    """x [B, F, I] tier input, upper [B, F, H] or None, h [B, R, D].

    Returns (conditioning for the tier below [B, F * ratio, H], last state).
    """
    if not self.is_top:
      x = self.input_expand(x) + upper
    inp, out, last = x, x, []
    skip_sum = 0.0
    for l, rnn in enumerate(self.rnns):
      layer_in = inp if l == 0 else (
          jnp.concatenate([out, inp], axis=-1) if self.skip_conn else out)
      out, s = rnn(layer_in, h[:, l])  # [B, F, H], [B, D]
      last.append(s)
      if self.skip_conn:
        skip_sum = skip_sum + self.skips[l](out)
    y = self.output(skip_sum if self.skip_conn else out)  # [B, F, ratio * H]
    b, f = y.shape[:2]
    return y.reshape(b, f * self.ratio, self.dim), jnp.stack(last, axis=1)


class SampleTier(nn.Module):
  """The sample-level MLP: previous samples -> Q logits for the next one.

  Parameters: ``embedding`` [Q, E] (sample_input 'embedding'),
  ``prev_samples`` (no bias), ``cond`` (cond_sample_tier), ``hidden1``
  (``hidden1_bias`` alone in the sampler's folded form), ``hidden2``,
  ``output``.
  """
  frame_size: int
  dim: int
  q_levels: int
  emb_size: int
  sample_input: str  # embedding | one_hot | real
  weight_norm: bool
  cond_sample_tier: bool
  l1_impl: str = "matmul"  # matmul | table | table_mm | table_pallas: embedding -> first Linear
  dtype: Any = jnp.float32
  # The sampler's form (sampling.fold_hidden1): hidden1's kernel is already
  # in prev_samples, cond and the upper tier's output; only its bias is here.
  fold_hidden1: bool = False

  @property
  def out_features(self) -> int:
    """Width of the ``output`` layer: Q logits. A variant whose ``mlp`` turns
    other outputs into the Q logits (a mixture's parameters) overrides it."""
    return self.q_levels

  def setup(self):
    check_choice("SampleTier", "sample_input", self.sample_input, SAMPLE_INPUTS)
    check_choice("SampleTier", "l1_impl", self.l1_impl, L1_IMPLS)
    wn = dict(weight_norm=self.weight_norm, dtype=self.dtype)
    if self.sample_input == "embedding":
      self.embedding = self.param("embedding", nn.initializers.normal(1.0),
                                  (self.q_levels, self.emb_size))
    self.prev_samples = WNDense(self.dim, use_bias=False,
                                init_type="he" if self.sample_input == "embedding" else "lecun",
                                **wn)
    if self.cond_sample_tier:
      self.cond = WNDense(self.dim, use_bias=False, **wn)
    if self.fold_hidden1:
      self.hidden1_bias = self.param("hidden1_bias", nn.initializers.zeros, (self.dim,))
    else:
      self.hidden1 = WNDense(self.dim, init_type="he", **wn)
    self.hidden2 = WNDense(self.dim, init_type="he", **wn)
    self.output = WNDense(self.out_features, **wn)

  def __call__(self, prev: Array, upper: Array, cond: Array) -> Array:
    """prev int [B, T, s], upper [B, T, H], cond [B, Cd] -> logits [B, T, Q].

    Two parts a variant may override (README, "A variant in your own code"):
    ``first_layer``, what feeds the MLP, and ``mlp``, the layers after it."""
    return self.mlp(self.first_layer(prev, upper, cond))

  def first_layer(self, prev: Array, upper: Array, cond: Array) -> Array:
    """prev int [B, T, s], upper [B, T, H], cond [B, Cd] -> [B, T, H]: the
    previous samples' projection (``prev_samples``) plus the upper tier's
    output (plus ``cond``'s projection with cond_sample_tier), before any
    nonlinearity: the input of ``hidden1``."""
    b, t, s = prev.shape
    if s != self.frame_size:
      raise ValueError(f"SampleTier: {s} previous samples a step; its frame_size is "
                       f"{self.frame_size}")
    # table_mm / table_pallas: the tables' gradient as one one-hot matmul, by
    # XLA or by a Pallas kernel (layers.table_sum); table: autodiff's scatters
    grad_dtype = self.dtype if self.l1_impl in ONE_HOT_GRAD_L1 else None
    grad_kernel = "pallas" if self.l1_impl == "table_pallas" else "xla"
    if self.sample_input == "embedding" and self.l1_impl != "matmul":
      # embedding then Linear == a sum of s look-ups in per-position tables
      # T_j = embedding @ W_j [Q, H]: fewer FLOPs when B*T >> Q.
      w, _ = self.prev_samples.weights(s * self.emb_size)
      tables = embedding_tables(self.embedding, w, s)  # [s, Q, H]
      x = table_sum(tables, prev, grad_dtype, grad_kernel)
    elif self.sample_input == "embedding":
      x = self.embedding[prev].reshape(b, t, s * self.emb_size)  # [B, T, s*E]
      x = self.prev_samples(x)
    elif self.sample_input == "one_hot":
      # one_hot(prev) @ W equals a sum of s row look-ups of W: no [B,T,s*Q] tensor.
      w, _ = self.prev_samples.weights(s * self.q_levels)
      x = table_sum(w.reshape(s, self.q_levels, self.dim), prev, grad_dtype, grad_kernel)
    else:  # real-valued samples in [-1, 1]
      x = self.prev_samples(quant.frame_input(prev, self.q_levels) / 2.0)
    x = x + upper
    if self.cond_sample_tier:
      x = x + self.cond(cond)[:, None, :]
    return x

  def hidden1_relu(self, x: Array) -> Array:
    """[B, T, H] -> relu(hidden1(x)) [B, T, H], in either parameter form: with
    ``fold_hidden1`` (the sampler's, for the library's own tiers only:
    ``sampling.runs_library_tiers``) x is already x W1 and only the bias is
    added here."""
    if self.fold_hidden1:  # x is already hidden1's x W: add its bias
      return precision.relu_to(x + self.hidden1_bias, self.dtype)
    # below float32: the hidden layers' inputs in self.dtype (as their matmuls
    # read them), so the backward's cotangents are too (precision.relu_to)
    x = precision.low_precision(x, self.dtype)
    return precision.relu_to(self.hidden1(x), self.dtype)

  def mlp(self, x: Array) -> Array:
    """``first_layer``'s [B, T, H] -> logits [B, T, Q]: hidden1, hidden2
    (each with a ReLU), output."""
    x = self.hidden1_relu(x)
    x = precision.relu_to(self.hidden2(x), self.dtype)
    return self.output(x)


class SampleRNN(nn.Module):
  """The whole model. ``__call__`` is the training forward pass over a chunk.

  A variant replaces a tier by subclassing it and naming the subclass here
  (class attributes, not fields: ``clone`` and the checkpoints are
  unchanged), e.g. ``class Wider(SampleRNN): sample_tier_class = MyTier``;
  its constructor gets the fields the library's tier gets (README, "A variant
  in your own code").
  """
  frame_tier_class = FrameTier
  sample_tier_class = SampleTier

  frame_sizes: Sequence[int] = (16,)
  dim: int = 1024
  n_rnn: int = 3
  rnn_type: str = "GRU"
  skip_conn: bool = False
  weight_norm: bool = True
  learn_h0: bool = True
  q_levels: int = 256
  emb_size: int = 256
  sample_input: str = "embedding"
  n_classes: int = 15
  cond_type: str = "one_hot"  # one_hot | embedding
  cond_emb_size: int = 0
  cond_sample_tier: bool = False
  l1_impl: str = "matmul"
  rnn_unroll: int = 1  # config.rnn_unroll: speed only (the function up to rounding)
  rnn_kernel: str = "xla"  # config.rnn_kernel: speed only (the function up to rounding)
  dtype: Any = jnp.float32
  fold_hidden1: bool = False  # the sampler's parameters (sampling.fold_hidden1)

  def setup(self):
    check_choice("SampleRNN", "rnn_type", self.rnn_type, RNN_TYPES)
    check_choice("SampleRNN", "cond_type", self.cond_type, COND_TYPES)
    check_choice("SampleRNN", "sample_input", self.sample_input, SAMPLE_INPUTS)
    check_choice("SampleRNN", "l1_impl", self.l1_impl, L1_IMPLS)
    fs = tuple(self.frame_sizes)
    self.tiers = [
        self.frame_tier_class(
            ratio=fs[k] // fs[k + 1] if k + 1 < len(fs) else fs[k],
            dim=self.dim, n_rnn=self.n_rnn, rnn_type=self.rnn_type,
            skip_conn=self.skip_conn, weight_norm=self.weight_norm,
            learn_h0=self.learn_h0, is_top=(k == 0),
            rnn_unroll=self.rnn_unroll, rnn_kernel=self.rnn_kernel, dtype=self.dtype,
            name=f"tier{k}")
        for k in range(len(fs))]
    self.sample_tier = self.sample_tier_class(
        frame_size=fs[-1], dim=self.dim, q_levels=self.q_levels,
        emb_size=self.emb_size, sample_input=self.sample_input,
        weight_norm=self.weight_norm, cond_sample_tier=self.cond_sample_tier,
        l1_impl=self.l1_impl, dtype=self.dtype, fold_hidden1=self.fold_hidden1)
    if self.cond_type == "embedding":
      self.class_embedding = self.param("class_embedding", nn.initializers.normal(1.0),
                                        (self.n_classes, self.cond_emb_size))

  # -- pieces, shared by training and sampling ------------------------------

  def conditioning(self, class_vec: Array) -> Array:
    """class_vec [B, C] (one-hot or a mix) -> conditioning features [B, Cd]."""
    if self.cond_type == "embedding":
      return class_vec @ self.class_embedding
    return class_vec

  def initial_state(self, batch: int) -> State:
    """Every tier's h0 broadcast to the batch: tuple of [B, R, D]."""
    return tuple(jnp.broadcast_to(t.h0(), (batch,) + t.h0().shape) for t in self.tiers)

  def tier(self, k: int, frames: Array, upper: Array | None, cond: Array,
           h: Array) -> tuple[Array, Array]:
    """Runs tier k over frames int [B, F, s_k] -> ([B, F * ratio, H], state)."""
    if frames.shape[-1] != self.frame_sizes[k]:
      raise ValueError(f"SampleRNN.tier({k}): frames of {frames.shape[-1]} samples; "
                       f"frame_sizes[{k}] is {self.frame_sizes[k]}")
    x = quant.frame_input(frames, self.q_levels)  # [B, F, s_k]
    if k == 0:
      c = jnp.broadcast_to(cond[:, None, :], x.shape[:2] + cond.shape[-1:])
      x = jnp.concatenate([x, c.astype(x.dtype)], axis=-1)  # [B, F, s_0 + Cd]
    return self.tiers[k](x, upper, h)

  def sample_logits(self, prev: Array, upper: Array, cond: Array) -> Array:
    """prev int [B, T, s_{K-1}], upper [B, T, H] -> logits [B, T, Q]."""
    return self.sample_tier(prev, upper, cond)

  # -- training forward -----------------------------------------------------

  def __call__(self, chunk: Array, class_vec: Array, state: State) -> tuple[Array, State]:
    """chunk int [B, L], class_vec [B, C], state -> (logits [B, T, Q], state).

    The targets are ``chunk[:, S:]``; tier k reads
    ``chunk[:, S - s_k : S - s_k + T]`` cut into frames of s_k.
    """
    fs = tuple(self.frame_sizes)
    top = fs[0]
    b, l = chunk.shape
    t = l - top
    cond = self.conditioning(class_vec)
    upper, new_state = None, []
    for k, s in enumerate(fs):
      frames = chunk[:, top - s:top - s + t].reshape(b, t // s, s)
      upper, h = self.tier(k, frames, upper, cond, state[k])
      new_state.append(h)
    s = fs[-1]
    prev = jnp.stack([chunk[:, top - s + j:top - s + j + t] for j in range(s)],
                     axis=-1)  # [B, T, s]
    return self.sample_logits(prev, upper, cond), tuple(new_state)


def log_probs(logits: Array, targets: Array) -> Array:
  """Natural-log probability of each target: logits [B, T, Q], targets int [B, T] -> [B, T].

  The target's entry of ``log_softmax(logits)`` in at least float32, with the
  gradient written out: ``g one_hot(target) - g softmax(logits)``, one
  element-wise pass. Autodiff of a log-softmax then a take would scatter the
  cotangent into a [B, T, Q] array of zeros (the take's transpose): a
  scatter-add kernel on a GPU where this is a comparison with an iota. The
  arithmetic is autodiff's, operation for operation (softmax as
  ``exp(x - max) * (-g / sum)``), so on a CPU the gradient is the same to the
  bit and a run trains the same parameters as before (tested).
  """
  return _target_log_prob(logits.astype(jnp.promote_types(logits.dtype, jnp.float32)),
                          targets)


def _log_softmax_parts(logits: Array) -> tuple[Array, Array, Array]:
  """(log_softmax [..., Q], exp(logits - max) [..., Q], its sum [..., 1])."""
  shifted = logits - jnp.max(logits, axis=-1, keepdims=True)
  e = jnp.exp(shifted)
  total = jnp.sum(e, axis=-1, keepdims=True)
  return shifted - jnp.log(total), e, total


def _take_target(logp: Array, targets: Array) -> Array:
  return jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


@jax.custom_vjp
def _target_log_prob(logits: Array, targets: Array) -> Array:
  return _take_target(_log_softmax_parts(logits)[0], targets)


def _target_log_prob_fwd(logits, targets):
  logp, e, total = _log_softmax_parts(logits)
  return _take_target(logp, targets), (e, total, targets)


def _target_log_prob_bwd(res, g):
  e, total, targets = res
  q = jnp.arange(e.shape[-1], dtype=targets.dtype)
  one_hot = (targets[..., None] == q).astype(e.dtype)  # [B, T, Q]
  g = g[..., None]
  return one_hot * g + e * (-g / total), None


_target_log_prob.defvjp(_target_log_prob_fwd, _target_log_prob_bwd)
