"""Pallas kernels, each a drop-in for an XLA computation it is tested against.

``one_hot_grad`` is the gradient of the sample tier's look-up tables
(``layers.table_sum`` with ``grad_kernel='pallas'``, ``sample_l1='table_pallas'``):
``d_tables[j] = one_hot(idx[:, j])^T g``. XLA computes it as one matmul over
a materialised one-hot operand of N x s x Q elements (8 GB in bf16 for a
paper-sized batch of 1024 x 1024 samples); the kernel builds each [Q, bn]
block of the one-hot in registers from bn indices and feeds it straight to
the matrix unit, so only g and the indices are read from memory.

It runs through Pallas' Triton backend on a GPU and in interpret mode on a
CPU (the tests' reference check). Whether it is faster than XLA's matmul is
for a GPU to say (``benchmarks/gpu_suite.sh``); ``sample_l1='auto'`` does
not choose it. It sums the rows it is given: on a mesh of several devices
``layers.table_sum`` calls it on each device's rows and adds the devices'
sums (``sharding.per_device``), since XLA cannot split a kernel call itself
(it would gather the rows onto every device).

Shapes: N rows (batch x positions), s table positions, Q levels, H width;
bn rows and bh columns per block; N', Q', H' padded: N' to a multiple of bn,
H' of bh, Q' to a power of two of at least 16.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

Array = jax.Array

_HLO_DTYPES = {"bfloat16": "bf16", "float16": "f16", "float32": "f32"}


def triton_params():
  """The kernels' Triton launch settings (4 warps, 2 pipeline stages), its
  module imported on first use: jax 0.11 deprecates Pallas' Triton backend,
  and a jax without it must still import the library, whose XLA paths (the
  defaults) need none of it. None there (interpret mode runs without it)."""
  try:
    from jax.experimental.pallas import triton as pl_triton
  except ImportError:
    return None
  return pl_triton.CompilerParams(num_warps=4, num_stages=2)


def cost_metadata(flops: float, bytes_accessed: float, dtype) -> dict[str, str]:
  """A Pallas call's ``metadata``: its matmul FLOPs, the bytes it moves in
  device memory and its matmul operands' dtype (HLO's name). XLA cannot see
  inside the kernel; benchmarks/hlo_kernels.py reads these from the
  compiled program (jaxlib 0.10's Triton calls carry them)."""
  name = jnp.dtype(dtype).name
  return {"flops": str(int(flops)), "bytes_accessed": str(int(bytes_accessed)),
          "dtype": _HLO_DTYPES.get(name, name)}


def _one_hot_grad_kernel(idx_ref, g_ref, out_ref, *, n_blocks: int, block_n: int, q: int):
  """One (position j, column block k) of the output.

  idx_ref [1, N'] (row j of idx^T), g_ref [N', bh], out_ref [1, Q', bh].
  """
  levels = jax.lax.broadcasted_iota(jnp.int32, (q, block_n), 0)

  def body(i, acc):
    rows = pl.ds(pl.multiple_of(i * block_n, block_n), block_n)
    ids = idx_ref[0, rows]                               # [bn]
    g = g_ref[rows, :]                                   # [bn, bh]
    one_hot = (levels == ids[None, :]).astype(g.dtype)   # [Q', bn]
    return acc + jnp.dot(one_hot, g, preferred_element_type=jnp.float32)

  out_ref[0] = jax.lax.fori_loop(0, n_blocks, body,
                                 jnp.zeros(out_ref.shape[1:], jnp.float32))


def one_hot_grad(idx: Array, g: Array, q: int, dtype, block_n: int = 128,
                 block_h: int = 64, interpret: bool | None = None) -> Array:
  """``einsum('nsq,nh->sqh', one_hot(idx, q), g)`` in float32, g rounded to ``dtype``.

  Args:
    idx: int [N, s] levels in [0, q) (a -1 row contributes nothing).
    g: [N, H] cotangent.
    q: number of levels Q.
    dtype: the matrix unit's operand dtype (float32 or bfloat16); the
      one-hot operand is exact in either, accumulation is float32.
    block_n, block_h: rows per loop step and columns per program (powers
      of two, as Triton needs); N, H and Q are padded to fit.
    interpret: run the kernel in Pallas' interpreter (default: when the
      program is compiled for a CPU, as the tests' are; a program compiled
      for a GPU, even on a machine without one, gets the Triton kernel).
  Returns [s, Q, H] float32.
  """
  n, s = idx.shape
  h = g.shape[-1]
  n_pad = -(-n // block_n) * block_n
  h_pad = -(-h // block_h) * block_h
  q_pad = max(16, 1 << (q - 1).bit_length())  # a power of two >= 16: a Triton dot's least side
  idx_t = jnp.pad(idx.T.astype(jnp.int32), ((0, 0), (0, n_pad - n)), constant_values=-1)
  g = jnp.pad(g.astype(dtype), ((0, n_pad - n), (0, h_pad - h)))
  kernel = functools.partial(_one_hot_grad_kernel, n_blocks=n_pad // block_n,
                             block_n=block_n, q=q_pad)
  size = jnp.dtype(dtype).itemsize
  call = functools.partial(
      pl.pallas_call, kernel,
      out_shape=jax.ShapeDtypeStruct((s, q_pad, h_pad), jnp.float32),
      # g is read once per table position (s programs' columns), idx once per block
      metadata=cost_metadata(2.0 * n_pad * s * q_pad * h_pad,
                             s * n_pad * (h_pad * size + 4 * (h_pad // block_h))
                             + s * q_pad * h_pad * 4, dtype),
      grid=(s, h_pad // block_h),
      in_specs=[pl.BlockSpec((1, n_pad), lambda j, k: (j, 0)),
                pl.BlockSpec((n_pad, block_h), lambda j, k: (0, k))],
      out_specs=pl.BlockSpec((1, q_pad, block_h), lambda j, k: (j, 0, k)),
      compiler_params=triton_params(),
      name="one_hot_grad")
  if interpret is None:  # chosen when lowered, by the platform compiled for
    out = jax.lax.platform_dependent(idx_t, g, cpu=call(interpret=True),
                                     default=call(interpret=False))
  else:
    out = call(interpret=interpret)(idx_t, g)
  return out[:, :q, :h]
