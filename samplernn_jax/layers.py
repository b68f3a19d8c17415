"""Building blocks of the original's model: weight-normed Linear, GRU and LSTM layers.

Everything is flax.linen with pure ``init``/``apply``. The recurrent cells are
plain functions of arrays (``gru.gru_step``, ``lstm_step``) so that the same
code runs inside ``jax.lax.scan`` for training and frame by frame for
sampling (a GRU layer's scan, with its written-out gradient, is
``gru.gru_scan``).

Shapes: B batch, F frames (time steps of a tier), I input features,
H hidden size, G gates (3 for GRU, 4 for LSTM), D state size (H for GRU,
2H for LSTM: hidden then cell, as the original stores it).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import flax.linen as nn

from samplernn_jax import gru, kernels, precision, sharding

Array = jax.Array
Dtype = Any


def _uniform_std(std_fn: Callable[[int], float]):
  """Uniform init with the given std: bound = std * sqrt(3) (the original)."""
  def init(key, shape, dtype=jnp.float32):
    std = std_fn(shape[0])
    return jax.random.uniform(key, shape, dtype, -std * 3 ** 0.5, std * 3 ** 0.5)
  return init


lecun_uniform = _uniform_std(lambda fan_in: (1.0 / fan_in) ** 0.5)
he_uniform = _uniform_std(lambda fan_in: (2.0 / fan_in) ** 0.5)
orthogonal = nn.initializers.orthogonal()


def default_init(n_in: int, n_out: int):
  """The original's default: orthogonal when square, else LeCun uniform."""
  return orthogonal if n_in == n_out else lecun_uniform


class WNDense(nn.Module):
  """Linear layer with the original's weight normalisation.

  ``W = kernel * (scale / ||kernel||)`` per output column, ``scale``
  initialised to the column norms of the initial kernel (so W starts equal to
  the kernel). Parameters: ``kernel`` [I, O], ``scale`` [O] (weight_norm only),
  ``bias`` [O] (use_bias only).
  """
  features: int
  use_bias: bool = True
  weight_norm: bool = True
  init_type: str = "default"  # default | he | lecun | orthogonal
  dtype: Dtype = jnp.float32

  def __call__(self, x: Array) -> Array:
    w, b = self.weights(x.shape[-1])
    y = precision.matmul(x, w, self.dtype)
    return y + b if b is not None else y

  @nn.compact
  def weights(self, n_in: int) -> tuple[Array, Array | None]:
    """The effective (normalised) kernel [I, O] and the bias [O] or None."""
    init = {"default": default_init(n_in, self.features), "he": he_uniform,
            "lecun": lecun_uniform, "orthogonal": orthogonal}[self.init_type]
    kernel = self.param("kernel", init, (n_in, self.features), jnp.float32)
    w = kernel
    if self.weight_norm:
      scale = self.param("scale", lambda _: jnp.linalg.norm(kernel, axis=0))
      w = kernel * (scale / jnp.linalg.norm(kernel, axis=0))
    b = (self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
         if self.use_bias else None)
    return w, b


# ---------------------------------------------------------------------------
# Cells: pure functions of arrays.


def lstm_step(w_rec: Array, xp: Array, s: Array, dtype: Dtype) -> Array:
  """One step of the original's LSTM (gates: input, forget, output, candidate).

  Args:
    w_rec: [H, 4H] recurrent weights.
    xp: [B, 4H] input projection plus the gate bias.
    s: [B, 2H] previous hidden and cell state, concatenated.
  Returns the new [B, 2H].
  """
  n = s.shape[-1] // 2
  h, c = s[..., :n], s[..., n:]
  g = xp + precision.matmul(h, w_rec, dtype)
  i, f, o = (jax.nn.sigmoid(g[..., k * n:(k + 1) * n]) for k in range(3))
  u = jnp.tanh(g[..., 3 * n:])
  c = f * c + i * u
  return jnp.concatenate([o * jnp.tanh(c), c], axis=-1)


def embedding_tables(embedding: Array, kernel: Array, s: int, dot_precision=None) -> Array:
  """The sample tier's embedding and first Linear folded into look-up tables.

  ``concat_j(E[prev_j]) @ W`` with E [Q, Emb] and W [s * Emb, H] equals
  ``sum_j T_j[prev_j]`` with ``T_j = E @ W_j``; returns T [s, Q, H].
  """
  q, e = embedding.shape
  return jnp.einsum("qe,seh->sqh", embedding, kernel.reshape(s, e, -1),
                    precision=dot_precision)


def table_sum(tables: Array, idx: Array, grad_dtype: Dtype | None = None,
              grad_kernel: str = "xla") -> Array:
  """``sum_j tables[j][idx[..., j]]``: tables [s, Q, H], idx int [..., s] -> [..., H].

  The forward is s row gathers. Without ``grad_dtype`` the gradient is
  autodiff's: s scatter-adds of the cotangent g into the tables (atomic adds
  on a GPU, each reading all of g). With it, the gradient is
  ``one_hot(idx)^T g`` ([s * Q, N] x [N, H] over the N rows of idx) on
  ``grad_dtype`` operands with float32 accumulation (the one-hot operand is
  exact in any dtype): one XLA matmul over a materialised one-hot
  (``grad_kernel='xla'``) or the Pallas kernel ``kernels.one_hot_grad``
  that builds the one-hot blocks in registers (``'pallas'``). All give the
  same gradient up to summation order (and, in bfloat16, the cotangent's
  rounding).
  """
  if grad_dtype is None:
    return _gather_sum(tables, idx)
  if grad_kernel not in ("xla", "pallas"):
    raise ValueError(f"grad_kernel={grad_kernel!r}: expected 'xla' or 'pallas'")
  mesh = sharding.batch_mesh() if grad_kernel == "pallas" else None  # for the backward
  return _table_sum_mm(tables, idx, jnp.dtype(grad_dtype), grad_kernel, mesh)


def _gather_sum(tables: Array, idx: Array) -> Array:
  return sum(tables[j][idx[..., j]] for j in range(tables.shape[0]))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _table_sum_mm(tables, idx, dtype, kernel, mesh):
  return _gather_sum(tables, idx)


def _table_sum_mm_fwd(tables, idx, dtype, kernel, mesh):
  # [s, Q, 0]: the tables' shape and dtype, no bytes
  return _gather_sum(tables, idx), (idx, jnp.zeros(tables.shape[:2] + (0,), tables.dtype))


def _table_sum_mm_bwd(dtype, kernel, mesh, res, g):
  idx, like = res
  s, q = like.shape[:2]
  idx, g = idx.reshape(-1, s), g.reshape(-1, g.shape[-1])  # [N, s], [N, H]
  if kernel == "pallas":  # each device's rows, then the devices' sums added
    parts = sharding.per_device(lambda i, g: kernels.one_hot_grad(i, g, q, dtype),
                                (0, 0), 0, mesh)(idx, g)
    d_tables = sharding.sum_parts(parts, s)
  else:
    d_tables = jnp.einsum("nsq,nh->sqh", jax.nn.one_hot(idx, q, dtype=dtype), g.astype(dtype),
                          preferred_element_type=jnp.promote_types(dtype, jnp.float32))
  return d_tables.astype(like.dtype), None


_table_sum_mm.defvjp(_table_sum_mm_fwd, _table_sum_mm_bwd)


RNN_TYPES = ("GRU", "LSTM")
RNN_KERNELS = ("xla", "pallas")  # a GRU's frame loops: XLA's kernels or gru_pallas'


def check_choice(owner: str, field: str, value, choices) -> None:
  """A ValueError naming ``owner.field`` unless ``value`` is one of ``choices``:
  the modules' string options, misspelt, would otherwise pick another branch
  (config.validate checks a config's options with it, the modules their own when
  built by hand)."""
  if value not in choices:
    raise ValueError(f"{owner}.{field}={value!r}: expected one of {tuple(choices)}")


def state_size(rnn_type: str, hidden: int) -> int:
  """Width D of one RNN layer's state: h for a GRU, [h, c] for an LSTM."""
  widths = {"GRU": hidden, "LSTM": 2 * hidden}
  if rnn_type not in widths:  # a cell added to RNN_TYPES without its width here
    raise ValueError(f"layers.state_size: no state width for rnn_type {rnn_type!r}; "
                     f"it knows {tuple(widths)} (a new cell's width goes here)")
  return widths[rnn_type]


def check_pallas_rnn(key: str, rnn_type: str, hidden: int) -> None:
  """A ValueError naming ``key`` unless a layer of ``rnn_type`` and ``hidden``
  units can run in ``gru_pallas``' kernels (a GRU, H a multiple of 16)."""
  if rnn_type != "GRU" or hidden % 16:
    raise ValueError(f"{key}='pallas' runs GRU layers whose hidden size (config.dim) is a "
                     f"multiple of 16; got rnn_type {rnn_type!r}, hidden size {hidden}")


class RNNLayer(nn.Module):
  """One GRU or LSTM layer run over a sequence with ``jax.lax.scan``.

  The input projection of all frames is one matmul outside the scan; only the
  recurrent matmuls run inside it (a GRU's scan is ``gru.gru_scan``, its
  gradient written out; an LSTM's is autodiff's). Parameters mirror the original's names:
  ``input`` (GRU: with bias; LSTM: without), ``recurrent_gates`` and, for GRU,
  ``recurrent_candidate`` (orthogonal init); LSTM has ``bias`` [4H]
  (forget gate initialised to 3).
  """
  hidden: int
  rnn_type: str = "GRU"
  weight_norm: bool = True
  dtype: Dtype = jnp.float32
  unroll: int = 1  # steps per iteration of the scan: fewer trips, the function up to rounding
  kernel: str = "xla"  # GRU only: 'pallas' runs gru_scan's frames in gru_pallas' kernels

  def setup(self):
    check_choice("RNNLayer", "rnn_type", self.rnn_type, RNN_TYPES)
    check_choice("RNNLayer", "kernel", self.kernel, RNN_KERNELS)
    if self.kernel == "pallas":
      check_pallas_rnn("RNNLayer.kernel", self.rnn_type, self.hidden)
    h = self.hidden
    is_gru = self.rnn_type == "GRU"
    self.input = WNDense((3 if is_gru else 4) * h, use_bias=is_gru,
                         weight_norm=self.weight_norm, dtype=self.dtype)
    self.recurrent_gates = WNDense((2 if is_gru else 4) * h, use_bias=False,
                                   weight_norm=self.weight_norm, dtype=self.dtype)
    if is_gru:
      self.recurrent_candidate = WNDense(h, use_bias=False, init_type="orthogonal",
                                         weight_norm=self.weight_norm, dtype=self.dtype)
    else:
      self.bias = self.param(
          "bias", lambda _: jnp.zeros((4 * h,)).at[h:2 * h].set(3.0))

  @property
  def state_size(self) -> int:
    return state_size(self.rnn_type, self.hidden)

  def __call__(self, x: Array, s0: Array) -> tuple[Array, Array]:
    """x [B, F, I], s0 [B, D] -> (hidden states [B, F, H], last state [B, D])."""
    xp = self.input(x)  # [B, F, G*H]
    w_gates, _ = self.recurrent_gates.weights(self.hidden)
    if self.rnn_type == "GRU":
      w_cand, _ = self.recurrent_candidate.weights(self.hidden)
      hs, last = gru.gru_scan(w_gates, w_cand, jnp.swapaxes(xp, 0, 1), s0,
                              jnp.dtype(self.dtype), self.unroll, self.kernel)  # hs [F, B, H]
      return jnp.swapaxes(hs, 0, 1), last
    xp = xp + self.bias
    step = lambda s, xp_t: lstm_step(w_gates, xp_t, s, self.dtype)

    def body(s, xp_t):
      s = step(s, xp_t)
      return s, s[..., :self.hidden]

    last, hs = jax.lax.scan(body, s0, jnp.swapaxes(xp, 0, 1),
                            unroll=self.unroll)  # hs [F, B, H]
    return jnp.swapaxes(hs, 0, 1), last
