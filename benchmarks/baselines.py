"""The train step's pieces as they were before 2026-11-30, for same-run baselines.

Context managers under which a freshly traced step uses the old form of one
piece (no flags here: train_speed.py and train_kernels.py import them). The
step must be a fresh callable traced inside the block: JAX reuses the trace
of a callable it has seen.
"""
import contextlib

import jax
import jax.numpy as jnp

from samplernn_jax import layers, steps


@contextlib.contextmanager
def _swapped(module, name: str, replacement=None):
  """``module.name`` is ``replacement`` inside the block (unchanged when None),
  and what it was after it."""
  saved = getattr(module, name)
  if replacement is not None:
    setattr(module, name, replacement)
  try:
    yield
  finally:
    setattr(module, name, saved)


def grad_matmuls(kind: str):
  """``layers.matmul`` is the library's ('dtype': bf16 cotangents) or plain
  autodiff of the same forward ('autodiff', the pre-2026-11-30 code: float32
  cotangents, mixed dots)."""
  return _swapped(layers, "matmul", layers._dot if kind == "autodiff" else None)


def _autodiff_log_probs(logits, targets):
  """The loss of the code before 2026-11-30: log-softmax, then a take."""
  logp = jax.nn.log_softmax(logits.astype(jnp.promote_types(logits.dtype, jnp.float32)),
                            axis=-1)
  return jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


def loss_grad(kind: str):
  """The loss's log-probabilities are model.log_probs ('vjp') or autodiff of
  the pre-2026-11-30 form ('autodiff': a scatter into the logits)."""
  return _swapped(steps, "log_probs", _autodiff_log_probs if kind == "autodiff" else None)
