"""The original's GRU: the cell (``gru_step``) and a layer's scan over frames
with its gradient written out (``gru_scan``).

Both compute the cell with ``_gru_parts``, a pure function of arrays, so the
training scan, the sampler's frame step (``gru_scan`` on one frame) and the
tests run the same arithmetic. Shapes: F frames, B batch, H hidden size.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from samplernn_jax import gru_pallas, precision, sharding

Array = jax.Array
Dtype = Any


def gru_step(w_gates: Array, w_cand: Array, xp: Array, h: Array, dtype: Dtype) -> Array:
  """One step of the original's GRU.

  Args:
    w_gates: [H, 2H] recurrent weights of the update and reset gates.
    w_cand: [H, H] recurrent weight of the candidate.
    xp: [B, 3H] input projection (with bias) for update, reset, candidate.
    h: [B, H] previous state.
  Returns the new state [B, H]:
    z, r = sigmoid(xp[:2H] + h W_g);  c = tanh(xp[2H:] + (r * h) W_c);
    h' = z * c + (1 - z) * h.
  """
  return _gru_parts(w_gates, w_cand, xp, h, dtype)[0]


def _gru_parts(w_gates, w_cand, xp, h, dtype, h_op=None):
  """gru_step's new state [B, H] and its gates z, r and candidate c [B, 3H];
  ``h_op``: h already cast to ``dtype`` (the gates' matmul operand), if the
  caller has it."""
  n = h.shape[-1]
  gates = jax.nn.sigmoid(xp[..., :2 * n]
                         + precision.matmul(h if h_op is None else h_op, w_gates, dtype))
  z, r = gates[..., :n], gates[..., n:]
  c = jnp.tanh(xp[..., 2 * n:] + precision.matmul(r * h, w_cand, dtype))
  return z * c + (1.0 - z) * h, jnp.concatenate([gates, c], axis=-1)


def scan_steps(w_gates: Array, w_cand: Array, xp: Array, h0: Array, dtype: Dtype,
               unroll: int = 1) -> tuple[Array, Array]:
  """gru_step over time-major inputs: xp [F, B, 3H], h0 [B, H] -> (hs [F, B, H], last [B, H]).

  ``gru_scan``'s forward; differentiated, plain autodiff of it (the code
  until late 2026-11-30, kept as the baseline of benchmarks/baselines.py).
  ``unroll`` frames per loop iteration.
  """
  def body(h, xp_t):
    h = gru_step(w_gates, w_cand, xp_t, h, dtype)
    return h, h
  last, hs = jax.lax.scan(body, h0, xp, unroll=unroll)
  return hs, last


def gru_scan(w_gates: Array, w_cand: Array, xp: Array, h0: Array, dtype: Dtype,
             unroll: int = 1, kernel: str = "xla") -> tuple[Array, Array]:
  """``scan_steps`` (a GRU layer over F frames) with its gradient written out.

  The forward keeps the gates and candidate of each frame ([F, B, 3H]) beside
  the states it returns; the backward is one reverse scan with two matmuls a
  frame (the cotangent through the candidate, then through the gates), and
  the recurrent weights' gradients are two matmuls over all frames after it.
  Autodiff of the scan keeps ~10 arrays a frame and accumulates the weight
  gradients frame by frame inside its loop: on an H200, compiled, 28 kernels
  a frame and layer against 13 here (benchmarks/README.md). Matmuls follow
  ``precision.matmul``: ``dtype`` operands, float32 accumulation.
  ``kernel``: 'xla' (XLA's kernels), or 'pallas', the frame loops in
  ``gru_pallas``' kernels, two a frame each way (a GPU's, or on a CPU
  Pallas' interpreter, which is what the tests check); the same function up to float32
  summation order. Under a mesh of several devices the kernels run on each
  device's rows (``sharding.per_device``).
  """
  mesh = sharding.batch_mesh() if kernel == "pallas" else None
  return _gru_scan(w_gates, w_cand, xp, h0, dtype, unroll, kernel, mesh)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6, 7))
def _gru_scan(w_gates, w_cand, xp, h0, dtype, unroll, kernel, mesh):
  # no gradient flows here: under differentiation _gru_scan_fwd runs instead
  (hs, last), _ = _gru_scan_fwd(w_gates, w_cand, xp, h0, dtype, unroll, kernel, mesh,
                                keep=False)
  return hs, last


def _gru_scan_fwd(w_gates, w_cand, xp, h0, dtype, unroll, kernel="xla", mesh=None, keep=True):
  """gru_scan's outputs and, with ``keep``, the backward's residuals: the
  weights in ``dtype``, h0, the states (xla: hs [F, B, H]; pallas:
  ``gru_pallas.forward``'s [F + 1, Bp, H], h0 first, each device's rows
  padded on their own) and the gates and candidate of every frame.

  The weights are cast to ``dtype`` once, not in every frame's iteration;
  below float32 the loop also carries the new state cast to ``dtype``, made
  where the state is (one fusion on a GPU) rather than by a convert kernel
  of its own at the start of the next frame. Same values as scan_steps.
  """
  w_gates, w_cand = w_gates.astype(dtype), w_cand.astype(dtype)
  if kernel == "pallas":  # on each device's rows (sharding.per_device)
    fwd = functools.partial(_pallas_fwd, dtype=dtype, unroll=unroll, keep=keep)
    hs, last, hs_ext, zrc = sharding.per_device(fwd, (None, None, 1, 0), (1, 0, 1, 1), mesh)(
        w_gates, w_cand, xp, h0)
    return (hs, last), ((w_gates, w_cand, h0, hs_ext, zrc) if keep else None)
  low = precision.below_float32(dtype)

  def body(carry, xp_t):
    h, h_op = carry
    h, zrc = _gru_parts(w_gates, w_cand, xp_t, h, dtype, h_op)
    return (h, h.astype(dtype) if low else None), ((h, zrc) if keep else h)
  init = (h0, h0.astype(dtype) if low else None)
  (last, _), ys = jax.lax.scan(body, init, xp, unroll=unroll)
  if not keep:
    return (ys, last), None
  hs, zrc = ys
  return (hs, last), (w_gates, w_cand, h0, hs, zrc)


def _gru_scan_bwd(dtype, unroll, kernel, mesh, res, cotangents):
  w_gates, w_cand, h0, hs, zrc = res
  d_hs, d_last = cotangents
  n = h0.shape[-1]
  if kernel == "pallas":  # on each device's rows, then the devices' weight gradients added
    bwd = functools.partial(_pallas_bwd, dtype=dtype, unroll=unroll)
    d_w_gates, d_w_cand, d_xp, dh0 = sharding.per_device(
        bwd, (None, None, 1, 1, 1, 0), (0, 0, 1, 0), mesh)(w_gates, w_cand, hs, zrc, d_hs, d_last)
    return sharding.sum_parts(d_w_gates, n), sharding.sum_parts(d_w_cand, n), d_xp, dh0
  h_prev = jnp.concatenate([h0[None], hs[:-1]], axis=0)  # [F, B, H]
  d_xp, dh0 = _frames_bwd(w_gates, w_cand, h_prev, zrc, d_hs, d_last, dtype, unroll)
  return (*_weight_grads(h_prev, zrc, d_xp, dtype), d_xp, dh0)


def _weight_grads(h_prev, zrc, d_xp, dtype):
  """The recurrent weights' gradients [H, 2H], [H, H] from every frame's
  previous state h_prev [F, B, H], gates zrc and d_xp [F, B, 3H]."""
  n = h_prev.shape[-1]
  r = zrc[..., n:2 * n]
  return (_dot_frames(h_prev, d_xp[..., :2 * n], dtype),
          _dot_frames(r * h_prev, d_xp[..., 2 * n:], dtype))


def _pallas_fwd(w_gates, w_cand, xp, h0, dtype, unroll, keep):
  """gru_pallas.forward on one device's rows -> (hs [F, B, H], last [B, H],
  and the backward's residuals: hs_ext [F + 1, Bp, H], zrc, padded rows kept)."""
  b = h0.shape[0]
  hs_ext, zrc = gru_pallas.forward(w_gates, w_cand, xp, h0, dtype, unroll, keep)
  return hs_ext[1:, :b], hs_ext[-1, :b], hs_ext, zrc


def _pallas_bwd(w_gates, w_cand, hs_ext, zrc, d_hs, d_last, dtype, unroll):
  """gru_pallas.backward on one device's rows (``_pallas_fwd``'s residuals)
  -> (this device's parts of the weight gradients, d_xp [F, B, 3H], dh0 [B, H])."""
  b = d_last.shape[0]
  d_xp, dh0 = gru_pallas.backward(w_gates, w_cand, hs_ext, zrc, d_hs, d_last, dtype, unroll)
  return (*_weight_grads(hs_ext[:-1, :b], zrc[:, :b], d_xp, dtype), d_xp, dh0)


def _frames_bwd(w_gates, w_cand, h_prev, zrc, d_hs, d_last, dtype, unroll):
  """The backward's reverse loop over frames -> (d_xp [F, B, 3H], dh0 [B, H])."""
  # h' = z c + (1 - z) h with z, r = sigmoid(a_g), c = tanh(a_c),
  # a_g = xp_g + h W_g, a_c = xp_c + (r h) W_c; g = dL/dh' of this frame
  n = h_prev.shape[-1]

  def body(dh, inputs):
    g_t, h, zrc_t = inputs
    z, r, c = zrc_t[..., :n], zrc_t[..., n:2 * n], zrc_t[..., 2 * n:]
    g = dh + g_t
    da_c = g * z * (1.0 - c * c)
    d_rh = precision.dot(da_c, w_cand.T, dtype)
    da_g = jnp.concatenate([g * (c - h) * z * (1.0 - z), d_rh * h * r * (1.0 - r)], axis=-1)
    dh = g * (1.0 - z) + d_rh * r + precision.dot(da_g, w_gates.T, dtype)
    return dh, jnp.concatenate([da_g, da_c], axis=-1)

  dh0, d_xp = jax.lax.scan(body, d_last, (d_hs, h_prev, zrc), reverse=True, unroll=unroll)
  return d_xp, dh0


def _dot_frames(x, g, dtype):
  """sum over frames and rows of x^T g: [F, B, I], [F, B, O] -> [I, O] (dtype operands)."""
  return jnp.tensordot(x.astype(dtype), g.astype(dtype), axes=((0, 1), (0, 1)),
                       preferred_element_type=jnp.promote_types(dtype, jnp.float32))


_gru_scan.defvjp(_gru_scan_fwd, _gru_scan_bwd)
