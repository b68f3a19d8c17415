"""Earlier forms of the train step's pieces, for same-run baselines.

Each piece of the step whose gradient the library writes out has a name, the
library's kind first and the forms it replaced after (``PIECES``), and a
context manager under which a freshly traced step uses the given kind. No
flags here: train_speed.py and train_kernels.py define theirs from
``PIECES`` (``define_flags``) and run every combination asked for
(``forms``). The step must be a fresh callable traced inside the block: JAX
reuses the trace of a callable it has seen.
"""
import contextlib
import itertools

import jax
import jax.numpy as jnp
import flax.linen as nn
from absl import flags

from samplernn_jax import gru, precision, steps

# piece -> (kinds, the library's first; what the flag's help says)
PIECES = {
    "grad_matmuls": (("dtype", "autodiff"),
                     "backward matmuls of a bfloat16 step (in the GRU scans only with --rnn_grad "
                     "autodiff, whose backward is autodiff's): 'dtype' is "
                     "precision.matmul (bf16 operands, float32 accumulation); 'autodiff' is "
                     "plain autodiff of the bf16 forward (the code before 2026-11-30: "
                     "float32 cotangents, mixed dots)"),
    "loss_grad": (("vjp", "autodiff"),
                  "gradient of the log-probabilities: 'vjp' is model.log_probs (g one_hot - "
                  "g softmax, element-wise); 'autodiff' is autodiff of a log-softmax then a "
                  "take (the code before 2026-11-30: a scatter into the logits)"),
    "rnn_grad": (("written", "autodiff"),
                 "gradient of each GRU layer's scan: 'written' is gru.gru_scan's (two "
                 "matmuls a frame, the weight gradients after the loop); 'autodiff' is "
                 "autodiff of the same forward (the code until late 2026-11-30)"),
    "relu_grad": (("output", "autodiff"),
                  "the sample tier's ReLUs below float32: 'output' is precision.relu_to "
                  "(the result in the step's dtype, its mask read from it, the hidden "
                  "layers' inputs cast); 'autodiff' is nn.relu on float32 activations (the "
                  "code until late 2026-11-30)"),
}


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
  """``precision.matmul`` is the library's ('dtype': bf16 cotangents) or plain
  autodiff of the same forward ('autodiff')."""
  return _swapped(precision, "matmul", precision.dot if kind == "autodiff" else None)


def _autodiff_log_probs(logits, targets):
  """The loss of the code before 2026-11-30: log-softmax, then a take."""
  logp = jax.nn.log_softmax(logits.astype(jnp.promote_types(logits.dtype, jnp.float32)),
                            axis=-1)
  return jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


def loss_grad(kind: str):
  """The loss's log-probabilities are model.log_probs ('vjp') or autodiff of
  the pre-2026-11-30 form ('autodiff': a scatter into the logits)."""
  return _swapped(steps, "log_probs", _autodiff_log_probs if kind == "autodiff" else None)


def rnn_grad(kind: str):
  """Each GRU layer runs ``gru.gru_scan`` ('written') or autodiff of its
  forward, ``gru.scan_steps`` ('autodiff': XLA's loops, whatever
  config.rnn_kernel says)."""
  def autodiff(w_gates, w_cand, xp, h0, dtype, unroll=1, kernel="xla"):
    del kernel  # scan_steps has XLA's loops only
    return gru.scan_steps(w_gates, w_cand, xp, h0, dtype, unroll)
  return _swapped(gru, "gru_scan", autodiff if kind == "autodiff" else None)


@contextlib.contextmanager
def relu_grad(kind: str):
  """The sample tier's ReLUs are ``precision.relu_to`` with its inputs cast
  ('output') or float32 ``nn.relu`` with no cast ('autodiff')."""
  if kind != "autodiff":
    yield
    return
  with _swapped(precision, "relu_to", lambda x, dtype: nn.relu(x)), \
       _swapped(precision, "low_precision", lambda x, dtype: x):
    yield


_CONTEXTS = {"grad_matmuls": grad_matmuls, "loss_grad": loss_grad, "rnn_grad": rnn_grad,
             "relu_grad": relu_grad}


def complete(form: dict | None) -> dict:
  """``form`` with every piece it does not name at the library's kind: a
  row's fields."""
  form = form or {}
  return {piece: form.get(piece, kinds[0]) for piece, (kinds, _) in PIECES.items()}


@contextlib.contextmanager
def traced_as(form: dict):
  """Every piece named in ``form`` ({piece: kind}) in that kind inside the block."""
  with contextlib.ExitStack() as stack:
    for piece, kind in form.items():
      if kind not in PIECES[piece][0]:
        raise ValueError(f"{piece}={kind!r}: expected one of {PIECES[piece][0]}")
      stack.enter_context(_CONTEXTS[piece](kind))
    yield


def define_flags() -> dict:
  """One repeatable enum flag per piece (default: the library's kind)."""
  return {piece: flags.DEFINE_multi_enum(piece, [kinds[0]], list(kinds),
                                         help_text + "; repeat to compare in one run")
          for piece, (kinds, help_text) in PIECES.items()}


def forms(holders: dict) -> list[dict]:
  """Every combination of the kinds asked for: [{piece: kind}, ...]."""
  names = list(holders)
  return [dict(zip(names, kinds))
          for kinds in itertools.product(*(holders[n].value for n in names))]


def settings(sample_l1s, holders: dict, unrolls, rnn_kernels):
  """(sample_l1, form, rnn_unroll, rnn_kernel) of every row train_speed.py and
  train_kernels.py run, but 'pallas' with an 'autodiff' rnn_grad: autodiff's
  scan has XLA's loops only, so that row would be mislabelled."""
  for l1, form, unroll, kernel in itertools.product(sample_l1s, forms(holders), unrolls,
                                                    rnn_kernels):
    if not (kernel == "pallas" and form.get("rnn_grad") == "autodiff"):
      yield l1, form, unroll, kernel
