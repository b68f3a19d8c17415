"""Quantisation of audio to discrete levels, and back.

Three schemes, each with 256 levels by default (``q_levels``):

* ``linear`` (the paper): each clip is min-max normalised to [0, 1], then
  ``int(x * (q_levels - 1e-5) + 5e-6)``, in exactly the original's order of
  float64 operations so that values on level boundaries land where the
  original puts them.
* ``mu-law``: the clip is min-max normalised to [-1, 1], mu-law companded
  (mu = q_levels - 1) and mapped to ``int((y + 1) / 2 * mu)`` (truncation, as
  the original's vectors show).
* ``a-law``: as mu-law with A-law companding (A = 87.6). The original named it
  but never implemented it; this is the textbook formula.

The numpy functions work on clips ``[..., W]`` (normalised over the last axis);
the jnp versions (``*_jnp``) are for use inside jitted code and agree with them
(tested). ``dequantize`` maps levels back to float audio in [-1, 1];
``frame_input`` is the frame tier's input scaling ``(q / (Q/2) - 1) * 2``.

Deliberate difference from the original: a constant clip (max == min) makes
the original divide by zero; here it maps to the zero level ``q_levels // 2``.
"""
from __future__ import annotations

import math

import numpy as np
import jax.numpy as jnp

Q_TYPES = ("linear", "mu-law", "a-law")
A_LAW_A = 87.6
_EPS = np.float64(1e-5)


def q_zero(q_levels: int) -> int:
  """The level of silence (the original's ``Q_ZERO``): 128 for 256 levels."""
  return q_levels // 2


def check_q_type(q_type: str) -> None:
  if q_type not in Q_TYPES:
    raise ValueError(f"config.q_type={q_type!r}: expected one of {Q_TYPES}")


def _normalize01(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Per-row min-max to [0, 1] in float64, the original's ``__normalize``.

  Returns the normalised rows and a mask of constant rows (set to 0.5).
  """
  x = np.array(x, dtype=np.float64)  # copy: the caller's array is untouched
  with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below
    x -= x.min(axis=-1, keepdims=True)
    mx = x.max(axis=-1, keepdims=True)
  if not np.isfinite(mx).all():
    raise ValueError("quantize: a clip holds NaN or Inf, or its max - min overflows "
                     "float64; expected finite audio samples")
  const = mx == 0
  x /= np.where(const, 1.0, mx)
  x = np.where(const, 0.5, x)
  return x, const


def mu_law_compress(x, q_levels: int = 256, xp=np):
  """Mu-law companding of x in [-1, 1] to [-1, 1] (mu = q_levels - 1)."""
  mu = q_levels - 1.0
  mag = xp.log1p(mu * xp.minimum(xp.abs(x), 1.0)) / np.log1p(mu)
  return xp.sign(x) * mag


def mu_law_expand(y, q_levels: int = 256, xp=np):
  """Inverse of ``mu_law_compress``."""
  mu = q_levels - 1.0
  return xp.sign(y) * ((1.0 + mu) ** xp.abs(y) - 1.0) / mu


def a_law_compress(x, xp=np):
  """A-law companding (A = 87.6) of x in [-1, 1] to [-1, 1]."""
  a = A_LAW_A
  ax = xp.minimum(xp.abs(x), 1.0)
  small = ax < 1.0 / a
  safe = xp.maximum(ax, 1.0 / a)
  y = xp.where(small, a * ax / (1.0 + np.log(a)),
               (1.0 + xp.log(a * safe)) / (1.0 + np.log(a)))
  return xp.sign(x) * y


def a_law_expand(y, xp=np):
  """Inverse of ``a_law_compress``, in ``y``'s float dtype."""
  a = A_LAW_A
  k = 1.0 + math.log(a)  # a Python float: numpy's float64 scalar would promote y
  ay = xp.abs(y)
  small = ay < 1.0 / k
  x = xp.where(small, ay * k / a, xp.exp(ay * k - 1.0) / a)
  return xp.sign(y) * xp.minimum(x, 1.0)  # exp's rounding gave 1.0000001 at |y| = 1


def _signed_to_levels(y, q_levels: int):
  """[-1, 1] -> levels before truncation: the original's ``(y + 1) / 2 * mu``
  (its ``int(...)`` truncates)."""
  mu = q_levels - 1.0
  return (y + 1.0) / 2.0 * mu


def quantize(x: np.ndarray, q_type: str = "linear", q_levels: int = 256,
             dither: np.ndarray | None = None) -> np.ndarray:
  """Quantise clips ``[..., W]`` (any float dtype) to int32 levels, per clip.

  ``dither``: optional noise of x's shape, in units of one level, added just
  before the levels are truncated (e.g. ``tpdf_dither``); the result is
  clipped to 0 .. q_levels - 1. None (the paper) adds nothing.
  """
  check_q_type(q_type)
  x01, const = _normalize01(x)
  if q_type == "linear":
    q = x01 * (q_levels - _EPS)
    q += _EPS / 2
  else:
    y = 2.0 * x01 - 1.0
    y = mu_law_compress(y, q_levels) if q_type == "mu-law" else a_law_compress(y)
    q = _signed_to_levels(y, q_levels)
  if dither is not None:
    q = np.clip(np.floor(q + dither), 0, q_levels - 1)
  q = q.astype(np.int32)
  return np.where(const, np.int32(q_zero(q_levels)), q).astype(np.int32)


def tpdf_dither(rng: np.random.Generator, shape) -> np.ndarray:
  """Triangular (TPDF) dither in [-1, 1] levels, mean 0: the difference of
  two uniform draws. Added before quantisation it turns a passage quieter
  than one level into noise around its level instead of one constant level,
  and makes the quantisation error independent of the signal."""
  return rng.random(shape) - rng.random(shape)


def quantize_jnp(x, q_type: str = "linear", q_levels: int = 256):
  """jnp version of ``quantize`` (float32 unless x64 is enabled)."""
  check_q_type(q_type)
  x = jnp.asarray(x, dtype=jnp.result_type(float))
  x = x - x.min(axis=-1, keepdims=True)
  mx = x.max(axis=-1, keepdims=True)
  const = mx == 0
  x01 = jnp.where(const, 0.5, x / jnp.where(const, 1.0, mx))
  if q_type == "linear":
    q = (x01 * (q_levels - 1e-5) + 5e-6).astype(jnp.int32)
  else:
    y = 2.0 * x01 - 1.0
    y = (mu_law_compress(y, q_levels, xp=jnp) if q_type == "mu-law"
         else a_law_compress(y, xp=jnp))
    q = _signed_to_levels(y, q_levels).astype(jnp.int32)
  return jnp.where(const, q_zero(q_levels), q).astype(jnp.int32)


def dequantize(q, q_type: str = "linear", q_levels: int = 256, xp=np):
  """Levels -> float32 audio in [-1, 1] (level centres for linear)."""
  check_q_type(q_type)
  if q_type == "linear":
    return (q.astype(xp.float32) + 0.5) / (q_levels / 2) - 1.0
  y = xp.minimum((q.astype(xp.float32) + 0.5) / ((q_levels - 1) / 2) - 1.0, 1.0)
  if q_type == "mu-law":
    return mu_law_expand(y, q_levels, xp=xp)
  return a_law_expand(y, xp=xp)


def frame_input(q, q_levels: int = 256):
  """The frame tier's input: ``(q / (Q/2) - 1) * 2``, range about [-2, 2]."""
  return (q.astype(jnp.result_type(float)) / (q_levels / 2) - 1.0) * 2.0
