"""A GRU layer's frame loop in two Pallas kernels a frame each way
(``gru.gru_scan(..., kernel='pallas')``, ``config.rnn_kernel='pallas'``).

XLA runs each frame of ``gru.gru_scan`` as five to seven kernels each way
(compiled for an H200; benchmarks/README.md, "The GRU frame loops in Pallas
kernels", lists them): two gemms and the element-wise work around them in
fusions of their own. Here each matmul is a kernel with the
element-wise work around it fused in, and the kernels read and write the
whole [F, ...] arrays at the frame's index, so nothing is sliced or stacked
by a kernel of its own:

  forward   ``_gates``:  z, r = sigmoid(xp_g + h W_g);  r h in ``dtype``
            ``_cand``:   c = tanh(xp_c + (r h) W_c);    h' = z c + (1 - z) h
  backward (g = dL/dh' = the carried dh + d_hs[t]):
            ``_bwd_cand``:  d(rh) = da_c W_c^T, with da_c = g z (1 - c^2)
                             made from g, z, c as the matmul reads them;
                             writes this frame's d_xp = [da_g, da_c] with
                             da_g = [g (c - h) z (1 - z), d(rh) h r (1 - r)],
                             and part = g (1 - z) + d(rh) r
            ``_bwd_gates``: dh = part + da_g W_g^T

Input 0 of every kernel is the loop's trip counter; an input aliased to an
output (``input_output_aliases``) is the buffer the kernel writes in place,
read through the input ref, written through the output ref.

The same arithmetic as ``gru._gru_parts`` and ``gru._gru_scan_bwd``: matmul
operands in ``dtype``, float32 accumulation and element-wise work (tested
against them in Pallas' interpreter, the program a CPU gets). On a GPU the
kernels go through Pallas' Triton backend; whether they beat XLA is for a
GPU to measure (``benchmarks/gpu_suite.sh``), so 'xla' stays the default.
These functions see one device's rows: on a mesh of several devices
``gru.gru_scan`` runs them on each device's share of the batch
(``sharding.per_device``), since XLA cannot split a kernel call itself (it
would gather the batch onto every device in every frame).

Shapes: F frames, B batch (padded to Bp, a multiple of bm), H hidden size (a
multiple of 16); ``hs_ext`` [F + 1, Bp, H] holds h0 and then every frame's
state, ``zrc`` [F, Bp, 3H] the gates and candidate of each frame (z | r | c);
bm rows, bn columns and bk inner elements per block.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from samplernn_jax import kernels

Array = jax.Array


def blocks(batch: int, hidden: int) -> tuple[int, int, int]:
  """(bm, bn, bk) for a layer of ``hidden`` units over ``batch`` rows: powers of
  two, at least 16 (a Triton dot's least side); bn = bk divide ``hidden``."""
  if hidden % 16:
    raise ValueError(f"rnn_kernel='pallas' needs the hidden size (config.dim) to be a "
                     f"multiple of 16; got {hidden}")
  bm = 64 if batch >= 512 else 32 if batch >= 32 else 16
  bn = next(b for b in (64, 32, 16) if hidden % b == 0)
  return bm, bn, bn


def _rows(bm: int):
  return pl.ds(pl.multiple_of(pl.program_id(0) * bm, bm), bm)


def _cols(bn: int, offset: int = 0):
  return pl.ds(pl.multiple_of(offset + pl.program_id(1) * bn, bn), bn)


def _frame(t_ref, at):
  """The frame a kernel works on: ``at`` = (step, offset, last) of its place
  in ``_loop`` (static) and the loop's trip counter in ``t_ref``; counted down
  from ``last`` in a backward loop. Computed here, so the loop runs no kernel
  of its own for an index."""
  step, offset, last = at
  i = t_ref[...] * step + offset
  return i if last is None else last - i


def _dot_loop(n_blocks: int, bk: int, shape, load_x, load_w) -> Array:
  """sum over k of load_x(k) @ load_w(k), float32: a block of one matmul."""
  def body(k, acc):
    ks = pl.ds(pl.multiple_of(k * bk, bk), bk)
    return acc + jnp.dot(load_x(ks), load_w(ks), preferred_element_type=jnp.float32)
  return jax.lax.fori_loop(0, n_blocks, body, jnp.zeros(shape, jnp.float32))


def _gates(t_ref, xp_ref, hs_ref, wg_ref, _, zrc_ref, rh_ref, *, n, bm, bn, bk, dtype, keep, at):
  """Program (i, j): rows i, gate columns j of z | r (2H wide)."""
  t = _frame(t_ref, at)
  tz = t if keep else 0
  rows, cols = _rows(bm), _cols(bn)
  h_cols = _cols(bn, -n)  # where an r block's columns are in h (program ids only out here:
  is_r = pl.program_id(1) * bn >= n  # the interpreter has none inside pl.when)
  acc = _dot_loop(n // bk, bk, (bm, bn), lambda ks: hs_ref[t, rows, ks].astype(dtype),
                  lambda ks: wg_ref[ks, cols])
  gates = jax.nn.sigmoid(xp_ref[t, rows, cols] + acc)
  zrc_ref[tz, rows, cols] = gates

  @pl.when(is_r)  # r h for the candidate's matmul
  def _():
    rh_ref[rows, h_cols] = (gates * hs_ref[t, rows, h_cols]).astype(rh_ref.dtype)


def _cand(t_ref, xp_ref, rh_ref, wc_ref, hs_in, zrc_in, hs_ref, zrc_ref, *, n, bm, bn, bk, keep,
          at):
  """Program (i, j): rows i, state columns j; writes hs[t + 1] and c (the
  outputs are the inputs' buffers: read from those, written to these)."""
  t = _frame(t_ref, at)
  tz = t if keep else 0
  rows, cols = _rows(bm), _cols(bn)
  acc = _dot_loop(n // bk, bk, (bm, bn), lambda ks: rh_ref[rows, ks],
                  lambda ks: wc_ref[ks, cols])
  c = jnp.tanh(xp_ref[t, rows, _cols(bn, 2 * n)] + acc)
  z = zrc_in[tz, rows, cols]
  zrc_ref[tz, rows, _cols(bn, 2 * n)] = c
  hs_ref[t + 1, rows, cols] = z * c + (1.0 - z) * hs_in[t, rows, cols]


def _bwd_cand(t_ref, dh_ref, dhs_ref, zrc_ref, hs_ref, wct_ref, _, dxp_ref, part_ref,
              *, n, bm, bn, bk, dtype, at):
  """Program (i, j): rows i, state columns j of d(rh) = da_c W_c^T; writes
  d_xp[t] at columns j of each third and dh's part without W_g."""
  t = _frame(t_ref, at)
  rows, cols = _rows(bm), _cols(bn)

  def da_c(ks):  # da_c = g z (1 - c^2) of columns ks, g = dh + d_hs[t]
    g = dh_ref[rows, ks] + dhs_ref[t, rows, ks]
    c = zrc_ref[t, rows, pl.ds(ks.start + 2 * n, ks.size)]
    return (g * zrc_ref[t, rows, ks] * (1.0 - c * c)).astype(dtype)

  d_rh = _dot_loop(n // bk, bk, (bm, bn), da_c, lambda ks: wct_ref[ks, cols])
  g = dh_ref[rows, cols] + dhs_ref[t, rows, cols]
  z, r = zrc_ref[t, rows, cols], zrc_ref[t, rows, _cols(bn, n)]
  c, h = zrc_ref[t, rows, _cols(bn, 2 * n)], hs_ref[t, rows, cols]
  dxp_ref[t, rows, cols] = g * (c - h) * z * (1.0 - z)
  dxp_ref[t, rows, _cols(bn, n)] = d_rh * h * r * (1.0 - r)
  dxp_ref[t, rows, _cols(bn, 2 * n)] = g * z * (1.0 - c * c)
  part_ref[rows, cols] = g * (1.0 - z) + d_rh * r


def _bwd_gates(t_ref, dxp_ref, wgt_ref, part_ref, dh_ref, *, n, bm, bn, bk, dtype, at):
  """Program (i, j): rows i, state columns j of dh = part + da_g W_g^T."""
  t = _frame(t_ref, at)
  rows, cols = _rows(bm), _cols(bn)
  acc = _dot_loop(2 * n // bk, bk, (bm, bn), lambda ks: dxp_ref[t, rows, ks].astype(dtype),
                  lambda ks: wgt_ref[ks, cols])
  dh_ref[rows, cols] = part_ref[rows, cols] + acc


def _call(kernel, out_shape, grid, aliases, interpret, name, cost):
  """The kernel as a function of its inputs; ``interpret`` None: the
  interpreter where the program is compiled for a CPU, Triton elsewhere.
  ``cost``: (matmul FLOPs, bytes moved, operand dtype) of one call."""
  call = functools.partial(pl.pallas_call, kernel, out_shape=out_shape, grid=grid,
                           input_output_aliases=aliases, name=name,
                           compiler_params=kernels.triton_params(),
                           metadata=kernels.cost_metadata(*cost))
  if interpret is not None:
    return call(interpret=interpret)
  return lambda *args: jax.lax.platform_dependent(
      *args, cpu=call(interpret=True), default=call(interpret=False))


def _costs(bp: int, n: int, dtype) -> dict[str, tuple]:
  """Each kernel's (matmul FLOPs, bytes, dtype) a call: float32 arrays of
  Bp x H (x 2 or 3 for the gates' widths) read or written once, the weight
  and r h in ``dtype`` (re-reads by other programs are L2's)."""
  w, a = jnp.dtype(dtype).itemsize, bp * n * 4  # a: one float32 [Bp, H]
  return {"gru_gates": (4.0 * bp * n * n, 5 * a + 2 * n * n * w + bp * n * w, dtype),
          "gru_cand": (2.0 * bp * n * n, 5 * a + n * n * w + bp * n * w, dtype),
          "gru_bwd_cand": (2.0 * bp * n * n, 10 * a + n * n * w, dtype),
          "gru_bwd_gates": (4.0 * bp * n * n, 4 * a + 2 * n * n * w, dtype)}


def _pad_rows(x: Array, axis: int, bm: int) -> Array:
  pad = -x.shape[axis] % bm
  if not pad:
    return x
  widths = [(0, 0)] * x.ndim
  widths[axis] = (0, pad)
  return jnp.pad(x, widths)


def forward(w_gates, w_cand, xp, h0, dtype, unroll=1, keep=True, interpret=None):
  """The layer's frames: xp [F, B, 3H], h0 [B, H] (weights already in ``dtype``)
  -> (hs_ext [F + 1, Bp, H], zrc [F, Bp, 3H], or [1, Bp, 3H] without ``keep``);
  rows past B are padding (zero input: their values are not used)."""
  f, b, _ = xp.shape
  n = h0.shape[-1]
  bm, bn, bk = blocks(b, n)
  xp, h0 = _pad_rows(xp, 1, bm), _pad_rows(h0, 0, bm)
  bp = h0.shape[0]
  hs = jnp.zeros((f + 1, bp, n), jnp.float32).at[0].set(h0)
  zrc = jnp.zeros((f if keep else 1, bp, 3 * n), jnp.float32)
  sizes, cost = dict(n=n, bm=bm, bn=bn, bk=bk, keep=keep), _costs(bp, n, dtype)

  def frame(trip, at, carry):
    hs, zrc = carry
    zrc, rh = _call(functools.partial(_gates, dtype=dtype, at=at, **sizes),
                    (jax.ShapeDtypeStruct(zrc.shape, jnp.float32),
                     jax.ShapeDtypeStruct((bp, n), dtype)),
                    (bp // bm, 2 * n // bn), {4: 0}, interpret, "gru_gates",
                    cost["gru_gates"])(trip, xp, hs, w_gates, zrc)
    return _call(functools.partial(_cand, at=at, **sizes),
                 (jax.ShapeDtypeStruct(hs.shape, jnp.float32),
                  jax.ShapeDtypeStruct(zrc.shape, jnp.float32)),
                 (bp // bm, n // bn), {4: 0, 5: 1}, interpret, "gru_cand",
                 cost["gru_cand"])(trip, xp, rh, w_cand, hs, zrc)
  return _loop(f, unroll, None, frame, (hs, zrc))


def backward(w_gates, w_cand, hs_ext, zrc, d_hs, d_last, dtype, unroll=1, interpret=None):
  """The reverse loop of ``gru._gru_scan_bwd`` on ``forward``'s residuals:
  d_hs [F, B, H], d_last [B, H] -> (d_xp [F, B, 3H], dh0 [B, H])."""
  f, b, n = d_hs.shape
  bm, bn, bk = blocks(b, n)
  bp = hs_ext.shape[1]
  d_hs, dh = _pad_rows(d_hs, 1, bm), _pad_rows(d_last, 0, bm)
  wct, wgt = w_cand.T.astype(dtype), w_gates.T.astype(dtype)
  sizes, cost = dict(n=n, bm=bm, bn=bn, bk=bk, dtype=dtype), _costs(bp, n, dtype)
  state = jax.ShapeDtypeStruct((bp, n), jnp.float32)
  d_xp = jnp.zeros((f, bp, 3 * n), jnp.float32)

  def frame(trip, at, carry):
    dh, d_xp = carry
    d_xp, part = _call(functools.partial(_bwd_cand, at=at, **sizes),
                       (jax.ShapeDtypeStruct(d_xp.shape, jnp.float32), state),
                       (bp // bm, n // bn), {6: 0}, interpret, "gru_bwd_cand",
                       cost["gru_bwd_cand"])(trip, dh, d_hs, zrc, hs_ext, wct, d_xp)
    dh = _call(functools.partial(_bwd_gates, at=at, **sizes), state,
               (bp // bm, n // bn), {}, interpret, "gru_bwd_gates",
               cost["gru_bwd_gates"])(trip, d_xp, wgt, part)
    return dh, d_xp
  dh0, d_xp = _loop(f, unroll, f - 1, frame, (dh, d_xp))
  return d_xp[:, :b], dh0[:b]


def _loop(f: int, unroll: int, last, frame, carry):
  """``frame(trip, at, carry)`` for frames 0 .. F - 1 (F - 1 .. 0 from ``last``):
  a loop of F // u trips of u frames, then the F % u left; ``at`` (step,
  offset, last) tells each kernel where its frame is (``_frame``)."""
  u = max(1, min(unroll, f))
  trips = f // u

  def body(trip, carry):
    for k in range(u):
      carry = frame(trip, (u, k, last), carry)
    return carry
  carry = jax.lax.fori_loop(0, trips, body, carry)
  for k in range(trips * u, f):  # after the loop: the frame index is a constant
    carry = frame(jnp.int32(0), (0, k, last), carry)
  return carry
