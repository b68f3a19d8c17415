"""Mixed-precision primitives: matmuls, casts and a ReLU whose gradients stay in ``dtype``.

``dtype`` is config.dtype: float32 (the original's computation) or a lower
precision such as bfloat16, where matmul operands are ``dtype`` and every
accumulation float32. Each function is the plain float32 operation when
``dtype`` is float32, so the float32 model is untouched by what is here.
Call them through the module (``precision.matmul``), as the library does:
benchmarks/baselines.py swaps them for the forms they replaced.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import flax.linen as nn

Array = jax.Array
Dtype = Any


def below_float32(dtype: Dtype) -> bool:
  """Whether ``dtype`` is a lower precision (e.g. bfloat16), where the
  functions here differ from the plain float32 operations."""
  return jnp.dtype(dtype).itemsize < 4


def dot(x: Array, w: Array, dtype: Dtype) -> Array:
  """x [..., I] @ w [I, O] on ``dtype`` operands, accumulated in at least float32."""
  return jnp.dot(x.astype(dtype), w.astype(dtype),
                 preferred_element_type=jnp.promote_types(dtype, jnp.float32))


def matmul(x: Array, w: Array, dtype: Dtype) -> Array:
  """x [..., I] @ w [I, O] in ``dtype`` (e.g. bfloat16) with an at least float32 result.

  Below float32 the gradient runs in ``dtype`` too: the incoming cotangent is
  cast to it, so both backward matmuls (dx = g w^T, dw = x^T g) take
  ``dtype`` operands and accumulate in float32. Plain autodiff of the forward
  would pair the float32 cotangent with a bfloat16 operand, a mixed dot that
  XLA runs in float32: two thirds of a training step's matmul FLOPs
  (tests/test_variants.py checks every dot of the bf16 step).
  """
  if not below_float32(dtype):
    return dot(x, w, dtype)
  return _low_precision_matmul(x, w, jnp.dtype(dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _low_precision_matmul(x: Array, w: Array, dtype: Dtype) -> Array:
  return dot(x, w, dtype)


def _low_precision_matmul_fwd(x, w, dtype):
  xl, wl = x.astype(dtype), w.astype(dtype)
  # Residuals: the low-precision operands (half the bytes of float32 ones)
  # and zero-size arrays that remember the inputs' dtypes for the cotangents.
  like = (jnp.zeros((0,), x.dtype), jnp.zeros((0,), w.dtype))
  return dot(xl, wl, dtype), (xl, wl, like)


def _low_precision_matmul_bwd(dtype, res, g):
  xl, wl, (x_like, w_like) = res
  gl = g.astype(dtype)
  acc = jnp.promote_types(dtype, jnp.float32)
  dx = jnp.dot(gl, wl.T, preferred_element_type=acc)  # [..., O] @ [O, I]
  lead = tuple(range(xl.ndim - 1))
  dw = jnp.tensordot(xl, gl, axes=(lead, lead), preferred_element_type=acc)  # [I, O]
  return dx.astype(x_like.dtype), dw.astype(w_like.dtype)


_low_precision_matmul.defvjp(_low_precision_matmul_fwd, _low_precision_matmul_bwd)


def low_precision(x: Array, dtype: Dtype) -> Array:
  """``x`` cast to ``dtype`` when that is below float32, else unchanged."""
  return x.astype(dtype) if below_float32(dtype) else x


def relu_to(x: Array, dtype: Dtype) -> Array:
  """``relu(x)`` in ``dtype``; below float32 its gradient keeps only that output.

  In float32 this is ``nn.relu``. Below it the result is ``relu(x)`` rounded
  to ``dtype`` (what the next ``matmul`` would cast it to anyway, so the
  forward is unchanged), and the backward's mask is ``y > 0`` read from that
  output: autodiff would keep a mask computed from the float32 ``x``, a second
  reader of the matmul's float32 result that stops XLA writing it straight
  out in ``dtype`` (on a GPU: a full-size float32 write, a read for the mask
  and one for the cast, per layer). The incoming cotangent arrives in
  ``dtype`` too, since ``y`` is.
  """
  if not below_float32(dtype):
    return nn.relu(x)
  return _relu_low(x, jnp.dtype(dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _relu_low(x: Array, dtype: Dtype) -> Array:
  return jnp.maximum(x, 0).astype(dtype)


def _relu_low_fwd(x, dtype):
  y = jnp.maximum(x, 0).astype(dtype)
  return y, (y, jnp.zeros((0,), x.dtype))


def _relu_low_bwd(dtype, res, g):
  y, x_like = res
  return (jnp.where(y > 0, g, 0).astype(x_like.dtype),)


_relu_low.defvjp(_relu_low_fwd, _relu_low_bwd)
