"""Class-conditioned generation, one compiled program a block of samples.

``generate_blocks`` (and ``generate``, all its blocks at once) runs one jitted
block of ``block_samples`` after another, carrying the state between them;
a block is a ``jax.lax.scan`` over the top tier's frames; inside each
frame, a nested scan per lower tier and finally a scan over the samples of the
bottom frame. The frame tiers step once per frame, the sample tier once per
sample, with exactly the code of the training forward pass (``SampleRNN.tier``
and ``SampleRNN.sample_logits`` on sequences of length one) on parameters
``prepare`` rewrote once (weight norm, look-up tables and hidden1's kernel
folded in), so the sampler and the trained model are the same function up to
float32 rounding (tested by teacher forcing).

The carry holds each tier's RNN state, the last S samples and the absolute
position; the random key of sample t is ``fold_in(key, t)``, so the audio does
not depend on how the generation is cut into pieces (``block_samples``,
streaming) or on rows added to the batch (``min_rows``). Each row draws its
own noise from that key, by its row index: the same request gives the same
clips, but a clip moved to another row (another request) gets other draws.
Neither the draw's Gumbel noise nor the
log-probability of the sample taken feeds the next step, so both are computed
once per bottom frame (noise before its steps, log-probs after them) rather
than inside each step, which is left with the MLP, the draw (an argmax of
logits plus noise) and the buffer shift (``batched_draws``). A variant whose
draw needs other randomness than one Gumbel vector per position (top-k,
nucleus, rejection) must change ``_frame_noise`` too, or run with
``batched_draws=False``.

*Guidance* (``guidance`` g != 1, a model trained with ``config.cond_dropout``)
runs every clip twice, with its class vector and with the zero vector, on the
same samples, and draws from ``l_u + g * (l_c - l_u)`` of the two logits
(classifier-free guidance: g > 1 moves each draw away from what any scene
would do toward what this class does). g = 1 is the plain conditional draw.

Samples can be *forced*: ``forced`` [B, P] (P <= N) holds levels 0..Q-1
that positions 0..P-1 take instead of a draw, or -1 where they are drawn
(priming with real audio; teacher forcing); other values, and float arrays
(audio rather than its levels), are refused. The log-probability of every
sample taken (drawn or forced) is returned: the conditional model's at
temperature 1, whatever the temperature or guidance it was drawn with.

Shapes: B clips, N samples, S top frame size, C classes, H hidden size,
Q levels; n samples of a block, r vectors a tier's frame gives the tier
below (its ratio). From ``_run_rows`` on, B counts the clips run: those
asked for, then the copies ``min_rows`` adds (dropped at the end). B' rows
the tiers run: B, or 2B with guidance.
"""
from __future__ import annotations

import functools
import operator
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import numpy as np

from samplernn_jax import levels
from samplernn_jax import precision
from samplernn_jax import quantize as quant
from samplernn_jax.layers import embedding_tables
from samplernn_jax.model import FrameTier, SampleRNN, SampleTier, log_probs

# Samples a run may hold (the rounded-up frames included): positions are int32.
MAX_RUN_SAMPLES = 2 ** 31


def _draw_with(noise, logits, temperature):
  """A draw from softmax(logits / T) given its Gumbel noise (float32, the
  shape of logits); the argmax when T <= 0. With the noise of
  ``jax.random.gumbel(k, ...)`` this is ``jax.random.categorical(k, logits / T)``
  to the bit (categorical's own method: the argmax of noise + logits). One
  argmax either way: T chooses its operand."""
  t = jnp.maximum(temperature, 1e-6)
  scores = jnp.where(temperature > 0, noise + logits / t, logits)
  return jnp.argmax(scores, axis=-1).astype(jnp.int32)


def _frame_noise(key, pos, n: int, shape) -> jax.Array:
  """The Gumbel noise of the draws at the n positions p = pos .. pos + n - 1
  (``jax.random.gumbel(fold_in(key, p), shape)`` each), in one computation:
  float32 [n, *shape]."""
  keys = jax.vmap(jax.random.fold_in, (None, 0))(key, pos + jnp.arange(n))
  return jax.vmap(lambda k: jax.random.gumbel(k, shape, jnp.float32))(keys)


def _guided(logits, guidance, guided: bool):
  """(logits to draw from, the model's own conditional logits) of [B', Q]
  logits; with ``guided`` the rows are B conditional then B unconditional."""
  if not guided:
    return logits, logits
  b = logits.shape[0] // 2
  cond, uncond = logits[:b], logits[b:]
  return uncond + guidance * (cond - uncond), cond


def _frame_step_fn(model: SampleRNN, variables, cond, key, temperature, guidance,
                   guided: bool, unroll: int = 1, batched_draws: bool = True):
  """A block's scan, over every tier: ``tier_scan(0, None, forced [n/S, B, S], carry)``."""
  fs, q = tuple(model.frame_sizes), model.q_levels
  n_tiers = len(fs)
  apply = functools.partial(model.apply, variables)  # method="tier": a variant's own

  def sample_scan(upper, forced, carry):
    """upper [n, B', H], forced [n, B] -> n samples of the sample tier; with
    ``batched_draws`` the n steps' noise [n, B, Q] is drawn before the loop
    and their log-probs computed after it (see the module docstring)."""
    b = forced.shape[1]  # B clips; upper has B' rows (2B with guidance)
    # the barrier: made here, not again inside each step's kernels (H200, 300 rows: the
    # score work then fuses into the argmax, 8.1 -> 7.3 kernels a sample; benchmarks/README.md)
    noise = (jax.lax.optimization_barrier(_frame_noise(key, carry[2], upper.shape[0], (b, q)))
             if batched_draws else None)

    def body(c, xs):
      h, buf, pos = c
      up, f, z = xs
      prev = buf[:, -fs[-1]:]  # [B', s_{K-1}]
      logits = apply(prev[:, None, :], up[:, None, :], cond,
                     method="sample_logits")[:, 0]  # [B', Q]
      draw, cond_logits = _guided(logits.astype(jnp.float32), guidance, guided)  # [B, Q]
      if z is None:  # the noise of this position alone
        z = _frame_noise(key, pos, 1, (b, q))[0]
      x = _draw_with(z, draw, temperature)
      x = jnp.where(f >= 0, f, x)  # [B]
      both = jnp.concatenate([x, x]) if guided else x  # [B']
      buf = jnp.concatenate([buf[:, 1:], both[:, None]], axis=1)
      # batched: the conditional logits, turned into log-probs after the loop
      out = cond_logits if batched_draws else log_probs(cond_logits, x)
      return (h, buf, pos + 1), (x, out)
    c, (x, out) = jax.lax.scan(body, carry, (upper, forced, noise), unroll=unroll)
    logp = log_probs(out, x) if batched_draws else out
    return c, (x, logp)  # [n, B] each

  def tier_scan(k, upper, forced, carry):
    """Tier k over its frames in this block: upper [n_k, B', H] (n_k frames)
    or None, forced [n_k, B, s_k] -> samples [n_k, ..., B]."""
    def body(c, xs):
      h, buf, pos = c
      up, f = xs
      frame = buf[:, -fs[k]:]  # [B', s_k]
      out, hk = apply(k, frame[:, None, :], None if up is None else up[:, None, :],
                      cond, h[k], method="tier")  # out [B', r, H]
      h = h[:k] + (hk,) + h[k + 1:]
      out = jnp.swapaxes(out, 0, 1)  # [r, B', H]
      if k + 1 == n_tiers:
        c, ys = sample_scan(out, jnp.swapaxes(f, 0, 1), (h, buf, pos))
      else:
        r = out.shape[0]
        sub = jnp.swapaxes(f.reshape(f.shape[0], r, -1), 0, 1)  # [r, B, s_{k+1}]
        c, ys = tier_scan(k + 1, out, sub, (h, buf, pos))
      return c, ys
    if upper is None:
      return jax.lax.scan(lambda c, f: body(c, (None, f)), carry, forced)
    return jax.lax.scan(body, carry, (upper, forced))

  return tier_scan


@functools.partial(jax.jit, static_argnums=(0, 8, 9, 10))
def _generate_block(model: SampleRNN, variables, cond_vec, carry, forced, key, temperature,
                    guidance, guided: bool, unroll: int = 1, batched_draws: bool = True):
  """Generates ``forced.shape[1]`` samples (a multiple of S) from ``carry``;
  with ``guided``, ``cond_vec`` and the carry hold 2B rows (see _guided);
  ``unroll`` sample steps per iteration of the innermost scan."""
  s = model.frame_sizes[0]
  cond = model.apply(variables, cond_vec, method="conditioning")
  scan = _frame_step_fn(model, variables, cond, key, temperature, guidance, guided, unroll,
                        batched_draws)
  b, n = forced.shape
  f = jnp.swapaxes(forced.reshape(b, n // s, s), 0, 1)  # [n/S, B, S]
  carry, (x, logp) = scan(0, None, f, carry)
  x, logp = x.reshape(n, b).T, logp.reshape(n, b).T  # [n/S, ..., B] -> [B, n]
  return carry, x, logp


def fold_weight_norm(params):
  """Params with every weight-normed kernel replaced by its effective weight.

  ``kernel * scale / ||kernel||`` is a function of the parameters only; doing
  it once here, instead of at every sample inside the scan, is the same
  function with a fraction of the per-sample work. Use with a model clone
  that has ``weight_norm=False`` (see ``prepare``).
  """
  def fold(tree):
    if not isinstance(tree, dict):
      return tree
    if "kernel" in tree and "scale" in tree:
      k = tree["kernel"]
      out = {n: v for n, v in tree.items() if n != "scale"}
      out["kernel"] = k * (tree["scale"] / jnp.linalg.norm(k, axis=0))
      return out
    return {n: fold(v) for n, v in tree.items()}
  return fold(dict(params))


def embedding_to_tables(params, frame_size: int):
  """Params of an embedding-input sample tier rewritten for one-hot input.

  The sample tier's first layer is ``concat_j(E[prev_j]) @ W`` with W
  [s * Emb, H]: the same as ``sum_j T_j[prev_j]`` with ``T_j = E @ W_j``
  [Q, H], which is exactly the one-hot input's layer with kernel
  ``concat_j T_j`` [s * Q, H]. The sampler then looks up s rows per sample
  instead of multiplying a [B, s * Emb] by [s * Emb, H] matrix. Needs plain
  kernels (fold the weight norm first). The tables are computed at full
  float32 precision once, outside the scan.
  """
  st = dict(params["sample_tier"])
  emb = st.pop("embedding")  # [Q, Emb]
  w = st["prev_samples"]["kernel"]  # [s * Emb, H]
  q = emb.shape[0]
  tables = embedding_tables(emb.astype(jnp.float32), w.astype(jnp.float32), frame_size,
                            dot_precision=jax.lax.Precision.HIGHEST)
  st["prev_samples"] = dict(st["prev_samples"],
                            kernel=tables.reshape(frame_size * q, -1).astype(w.dtype))
  return dict(params, sample_tier=st)


def fold_hidden1(params, frame_sizes):
  """Params with the sample tier's hidden1 kernel W1 multiplied into what feeds it.

  hidden1 takes ``x = P(prev) + upper (+ C(cond))``, each term linear: P the
  first layer (look-up tables, or a kernel on real-valued input), upper the
  last frame tier's output ``y W_o + b_o``, C the sample tier's conditioning
  kernel. So ``x W1 = P'(prev) + y W_o' + b_o' (+ C'(cond))`` with every
  kernel (and b_o) multiplied by W1 once here, at full float32 precision:
  the per-sample [B, H] x [H, H] matmul of hidden1 is gone (one matmul of
  three per generated sample), its bias stays as ``hidden1_bias``. The
  upper tier's output computes ``y W_o W1`` for all its r samples in the
  one matmul per frame it ran anyway. Needs plain kernels (fold the weight
  norm first); the same function up to float32 rounding. Use with a model
  clone that has ``fold_hidden1=True`` (see ``prepare``).
  """
  hi = functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)
  st = dict(params["sample_tier"])
  h1 = st.pop("hidden1")
  w1 = h1["kernel"].astype(jnp.float32)  # [H, H]
  st["hidden1_bias"] = h1["bias"]
  for name in ("prev_samples", "cond"):
    if name in st:
      st[name] = dict(st[name], kernel=hi(st[name]["kernel"], w1))
  last = f"tier{len(frame_sizes) - 1}"
  tier = dict(params[last])
  out = tier["output"]
  h = w1.shape[0]
  kernel = hi(out["kernel"].reshape(out["kernel"].shape[0], -1, h), w1)  # [H, r, H]
  bias = hi(out["bias"].reshape(-1, h), w1)  # [r, H]
  tier["output"] = dict(out, kernel=kernel.reshape(out["kernel"].shape),
                        bias=bias.reshape(-1))
  return dict(params, sample_tier=st, **{last: tier})


def kernels_to(params, dtype, keep=()):
  """Params with every ``kernel`` (a matmul's weight) cast to ``dtype``, but
  those at the paths in ``keep`` (tuples of names, e.g. look-up tables, which
  are gathered, not multiplied).

  A matmul below float32 casts its weight to ``dtype`` each time it runs
  (``precision.matmul``); cast here once, the same values reach the same
  matmuls, and the sampler's loops stop re-casting every weight every frame
  (on a GPU, a convert kernel per weight and frame: the paper model's frame
  tier output alone moves 100 MB a frame).
  """
  def cast(path, x):
    names = tuple(getattr(k, "key", str(k)) for k in path)
    if names[-1] == "kernel" and names[:-1] not in keep:
      return x.astype(dtype)
    return x
  return jax.tree_util.tree_map_with_path(cast, params)


def runs_library_tiers(model: SampleRNN) -> bool:
  """Whether ``model`` runs the library's own tier code: the rewrites of
  ``embedding_to_tables`` and ``fold_hidden1`` are written for it (they
  change parameters by name, assuming the first layer is a linear sum and
  hidden1 reads it). A research variant that overrides a tier's forward
  (``first_layer``, ``mlp``, a frame tier's ``__call__``...) or the
  ``setup`` that builds its layers (another ``hidden1`` with the same
  parameters) is not."""
  pairs = [(type(model), SampleRNN, ("setup", "tier", "sample_logits", "conditioning")),
           (model.sample_tier_class, SampleTier,
            ("setup", "__call__", "first_layer", "hidden1_relu", "mlp")),
           (model.frame_tier_class, FrameTier, ("setup", "__call__"))]
  return all(getattr(cls, m) is getattr(base, m) for cls, base, names in pairs for m in names)


def check_sampled_as_trained(model: SampleRNN) -> None:
  """ValueError for a model class whose training forward the sampler would
  not run: an override of ``SampleRNN.__call__`` changes training only (the
  sampler steps ``conditioning``, ``tier`` and ``sample_logits`` a frame and
  a sample at a time), so its clips would come from another function."""
  if type(model).__call__ is not SampleRNN.__call__:
    raise ValueError(
        f"{type(model).__qualname__} overrides SampleRNN.__call__, which training runs and "
        "the sampler does not (it steps conditioning, tier and sample_logits a frame and a "
        "sample at a time): put the change into those methods or into a tier class")


def prepare(model: SampleRNN, params, fold_hidden1_kernel: bool = True):
  """The (model, params) the sampler runs: the same function as ``model``
  with ``params`` (up to float32 rounding; below float32, up to that
  dtype's rounding, done once on the tables and folded kernels where the
  training forward rounds each matmul's operands: as close to the float32
  function as the training forward in that dtype, not bit-equal to it,
  ``tests/test_sampling.py``), with the per-sample work cut
  down once before the scan: weight norm folded into the kernels, an
  embedding-input sample tier turned into per-position look-up tables
  (``embedding_to_tables``), hidden1's kernel multiplied into the layers
  that feed it (``fold_hidden1``; ``fold_hidden1_kernel=False``: not, the
  sampler until 2026-11-30, which sample_speed.py compares) and, below
  float32, the matmuls' kernels cast to the model's dtype (``kernels_to``).
  The frame tiers run XLA's GRU step whatever ``rnn_kernel`` trained them:
  the sampler steps one frame at a time, where gru_pallas' loops over
  frames have nothing to save, and on a CPU they would be interpreted.
  A model whose tiers run code of its own (``runs_library_tiers`` false: a
  research variant) gets the weight norm folded and the cast only: the look-up
  tables and hidden1's fold assume the library's first layer and MLP."""
  library = runs_library_tiers(model)
  if model.weight_norm:
    params = fold_weight_norm(params)
  model = model.clone(weight_norm=False, l1_impl="matmul", rnn_kernel="xla")
  if model.sample_input == "embedding" and library:
    params = embedding_to_tables(params, model.frame_sizes[-1])
    model = model.clone(sample_input="one_hot")
  if fold_hidden1_kernel and library:
    model, params = model.clone(fold_hidden1=True), fold_hidden1(params, model.frame_sizes)
  if precision.below_float32(model.dtype):  # cast once, not in every frame
    tables = (("sample_tier", "prev_samples"),) if model.sample_input == "one_hot" else ()
    params = kernels_to(params, model.dtype, tables)
  return model, params


def initial_carry(model: SampleRNN, variables, batch: int):
  """(RNN states from h0, a buffer of S Q_ZERO samples, position 0)."""
  h = model.apply(variables, batch, method="initial_state")
  buf = jnp.full((batch, model.frame_sizes[0]), quant.q_zero(model.q_levels), jnp.int32)
  return (tuple(h), buf, jnp.zeros((), jnp.int32))


def _run_rows(class_vec, forced, n_samples: int, min_rows: int, guided: bool, q_levels: int,
              n_classes: int):
  """(class vectors [B, C], samples to force [B, P], -1 where drawn) of the
  clips run: those asked for, then copies of the last up to ``min_rows`` rows
  of the compiled program (a guided clip runs as two). Only the P forced
  samples are held (a prime): ``_forced_block`` pads each block with -1, so a
  long stream's memory does not grow with its length."""
  class_vec = jnp.asarray(class_vec, jnp.float32)
  if class_vec.ndim != 2 or class_vec.shape[0] < 1 or class_vec.shape[1] != n_classes:
    raise ValueError(f"class_vec of shape {class_vec.shape}: expected [clips, {n_classes}], "
                     f"a row of class weights per clip (the model's {n_classes} classes), "
                     f"e.g. np.eye({n_classes})[[0, 2]] for classes 0 and 2")
  b = class_vec.shape[0]
  if forced is None:
    forced = np.full((b, 0), -1, np.int32)
  forced = np.asarray(forced)
  if forced.size and not np.issubdtype(forced.dtype, np.integer):
    raise ValueError(f"forced samples of dtype {forced.dtype}: expected integer levels "
                     f"0..{q_levels - 1} (or -1: drawn), e.g. quantize.quantize of audio in "
                     "[-1, 1], not the audio itself")
  if forced.ndim != 2 or forced.shape[0] != b or forced.shape[1] > n_samples:
    raise ValueError(f"forced samples of shape {forced.shape} do not fit "
                     f"[{b}, <= {n_samples}]")
  if forced.size and not (forced.min() >= -1 and forced.max() < q_levels):
    raise ValueError(f"forced samples range over [{forced.min()}, {forced.max()}]: expected "
                     f"levels 0..{q_levels - 1} of the model's q_levels={q_levels} "
                     "(or -1: drawn), e.g. quantize.quantize of audio in [-1, 1]")
  forced = forced.astype(np.int32)
  per = 2 if guided else 1  # rows of one clip
  pad = max(0, -(-(min_rows - b * per) // per))  # clips run and dropped
  return (jnp.concatenate([class_vec, jnp.repeat(class_vec[-1:], pad, axis=0)]),
          np.concatenate([forced, np.repeat(forced[-1:], pad, axis=0)]))


def _forced_block(prime: np.ndarray, start: int, n: int) -> np.ndarray:
  """Samples ``start .. start + n - 1`` to force, [B, n]: the prime's where
  it reaches, -1 (drawn) beyond it."""
  block = np.full((prime.shape[0], n), -1, np.int32)
  part = prime[:, start:start + n]
  block[:, :part.shape[1]] = part
  return block


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_draw(temperature: float, guidance: float = 1.0) -> None:
  """ValueError unless the temperature is finite and not negative (0 is the
  argmax) and the guidance finite (1 is off), both as the float32 the draw
  computes in (1e39 would be inf there: NaN logits, every draw level 0; a
  guidance near the bound may still overflow the guided logits, which the
  log-probs' check does not see: keep it to tens)."""
  if not (temperature >= 0 and temperature <= _FLOAT32_MAX):
    raise ValueError(f"temperature={temperature}: expected 0 (argmax) or more, a "
                     f"finite float32 (at most {_FLOAT32_MAX:.4g})")
  if not abs(guidance) <= _FLOAT32_MAX:
    raise ValueError(f"guidance={guidance}: expected a finite float32 (1 = off; at most "
                     f"{_FLOAT32_MAX:.4g} either way)")


def _is_int(v) -> bool:
  """Whether ``v`` is an integer type (Python, numpy or a 0-d JAX array's)."""
  try:
    operator.index(v)
  except TypeError:
    return False
  return True


def _check_run(n_samples: int, total: int, unroll, min_rows) -> None:
  """ValueError for a run the sampler cannot do as asked."""
  for name, v in (("n_samples", n_samples), ("unroll", unroll), ("min_rows", min_rows)):
    if isinstance(v, (bool, np.bool_)) or not _is_int(v) or v < 1:  # 32.0 too: an int type
      raise ValueError(f"{name}={v!r}: expected a positive integer (an int, e.g. "
                       "int(2.5 * rate))")
  if total >= MAX_RUN_SAMPLES:  # the position counter is int32 (and fold_in's data 32 bits)
    whole = f" (run as {total}: whole bottom frames)" if total != n_samples else ""
    raise ValueError(f"n_samples={n_samples}{whole}: expected fewer than 2**31 samples per "
                     "run (37 hours at 16 kHz); generate longer audio as several runs")


def _run_blocks(model, variables, rows, carry, prime, key, temperature, guidance, guided,
                unroll, batched_draws, b: int, n_samples: int, total: int, block: int):
  """``generate_blocks``' blocks, once its checks and set-up are done."""
  done = 0
  while done < n_samples:
    n = min(block, total - done)
    carry, x, logp = _generate_block(model, variables, rows, carry,
                                     jnp.asarray(_forced_block(prime, done, n)), key, temperature,
                                     guidance, guided, unroll, batched_draws)
    keep = min(n, n_samples - done)
    x, logp = np.asarray(x[:b, :keep]), np.asarray(logp[:b, :keep])
    if not np.isfinite(logp).all():  # NaN logits draw level 0 every time, silently
      raise ValueError(f"the model's log-probs are not finite in the block from sample "
                       f"{done}: its parameters or the class vectors hold NaN or inf")
    yield x, logp
    done += n


def generate_blocks(model: SampleRNN, params, class_vec, n_samples: int, key,
                    temperature: float = 1.0, forced=None, block_samples: int = 16000,
                    prepare_fn: Callable = prepare, guidance: float = 1.0,
                    unroll: int = 1, batched_draws: bool = True, min_rows: int = 1
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """Yields (samples int32 [B, n], log-probs at temperature 1 [B, n]) a block at a time.

  The run is checked, and the model prepared, when this is called (a
  ValueError then, not at the first block): a caller can rely on a run that
  got its iterator to start.

  Args:
    class_vec: [B, C] class weights (one-hot, or a convex mix).
    n_samples: total samples to generate per clip.
    key: a PRNG key; sample t of the run uses ``fold_in(key, t)``.
    temperature: 1.0 = the paper's plain draw; 0 = argmax.
    forced: optional int [B, P], P <= n_samples: the first P samples (a
      prime); levels 0..Q-1 are taken, not drawn, -1 is drawn (levels:
      ``quantize.quantize`` of audio, or ``sample_files.read_prime``).
    block_samples: samples per compiled call (rounded up to a multiple of
      S); the same output whatever this is.
    prepare_fn: turns (model, params) into the sampler's (``prepare``: weight
      norm, look-up tables, hidden1 folded); for variants and benchmarks.
    guidance: 1.0 = the plain conditional draw; g != 1 draws from
      ``l_u + g * (l_c - l_u)`` (see the module docstring), at twice the
      work; log-probs are still the conditional model's.
    unroll: sample steps per iteration of the innermost scan
      (``jax.lax.scan``'s unroll). 1 unrolls nothing; the bottom frame
      size (16 for the paper) unrolls all of a frame's samples. Fewer loop
      iterations, and so fewer loop-control round trips on a GPU, for a
      longer compile. The samples are the same whatever this is.
    batched_draws: True: a bottom frame's noise is drawn before its steps
      and their log-probs computed after them, one batched computation each;
      False: both inside every step (the older form, kept as
      sample_speed.py's same-run baseline). Same samples either way.
    min_rows: the program runs at least this many rows (a guided clip is
      two), the extra ones copies of the last clip, dropped: on a GPU one
      row's matrix-vector products compile to a multiply and a reduction
      over a materialised [H, H] product, two rows' to one gemm (README of
      benchmarks/: 13 -> 10 kernels, 28 -> 10 MB a sample step, paper
      model). A row's noise does not depend on the others (JAX's default
      jax_threefry_partitionable): the same samples up to rounding.
  """
  check_sampled_as_trained(model)
  check_draw(temperature, guidance)
  s = model.frame_sizes[0]
  total = -(-n_samples // s) * s
  _check_run(n_samples, total, unroll, min_rows)
  block = max(s, -(-block_samples // s) * s)
  model, params = prepare_fn(model, params)
  variables = {"params": params}
  b = np.shape(class_vec)[0]
  guided = guidance != 1.0
  class_vec, prime = _run_rows(class_vec, forced, n_samples, min_rows, guided, model.q_levels,
                               model.n_classes)
  rows = jnp.concatenate([class_vec, jnp.zeros_like(class_vec)]) if guided else class_vec
  carry = initial_carry(model, variables, rows.shape[0])
  temperature, guidance = jnp.float32(temperature), jnp.float32(guidance)
  return _run_blocks(model, variables, rows, carry, prime, key, temperature, guidance,
                     guided, unroll, batched_draws, b, n_samples, total, block)


def generate(model: SampleRNN, params, class_vec, n_samples: int, key,
             temperature: float = 1.0, forced=None, block_samples: int = 16000,
             progress: Callable[[int], Any] | None = None,
             prepare_fn: Callable = prepare, guidance: float = 1.0, unroll: int = 1,
             batched_draws: bool = True, min_rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
  """All of ``generate_blocks`` at once: (samples [B, N], log-probs [B, N])."""
  xs, lps = [], []
  for x, lp in generate_blocks(model, params, class_vec, n_samples, key,
                               temperature, forced, block_samples, prepare_fn, guidance,
                               unroll, batched_draws, min_rows):
    xs.append(x)
    lps.append(lp)
    if progress is not None:
      progress(x.shape[1])
  return np.concatenate(xs, axis=1), np.concatenate(lps, axis=1)


def teacher_forcing_gap(model: SampleRNN, params, frames: int = 4, seed: int = 0,
                        prepare_fn: Callable = prepare, noise: float = 0.1) -> float:
  """Largest difference, in nats, between the log-probs the sampler gives a
  forced random sequence and those of the training forward (``__call__``)
  on it: 1e-6 to 1e-5 in float32 (the tests allow 1e-4) when the sampler
  runs the function that was trained; in bfloat16 about 0.02-0.03 (the two
  round differently: ``prepare``), so check a variant in float32. A variant
  checks its own model with it (README, "A variant in your own code");
  ``frames`` top frames of 2 rows (classes 0 and 1).

  Both run on ``params`` plus N(0, ``noise``) on every floating parameter
  (seeded by ``seed``): at their initial values biases are zero and each
  weight-norm scale equals its kernel's column norms, so a sampler that
  dropped a bias or a scale would agree with the forward on freshly
  initialised parameters. ``noise=0`` checks ``params`` as given."""
  params = _perturbed(params, noise, seed)
  s, n = model.frame_sizes[0], model.n_classes
  vec = np.eye(n, dtype=np.float32)[[0, min(1, n - 1)]]
  x = np.random.default_rng(seed).integers(0, model.q_levels, (2, frames * s)).astype(np.int32)
  _, lp = generate(model, params, vec, x.shape[1], jax.random.key(seed), forced=x,
                   prepare_fn=prepare_fn)
  chunk = jnp.concatenate([jnp.full((2, s), quant.q_zero(model.q_levels), jnp.int32), x], 1)
  variables = {"params": params}
  logits, _ = model.apply(variables, chunk, jnp.asarray(vec),
                          model.apply(variables, 2, method="initial_state"))
  return float(np.max(np.abs(lp - np.asarray(log_probs(logits, jnp.asarray(x))))))


def _perturbed(params, noise: float, seed: int):
  """params with N(0, noise) added to each floating array (in its dtype)."""
  if not noise:
    return params
  rng = np.random.default_rng(seed)

  def add(p):
    if not jnp.issubdtype(p.dtype, jnp.floating):
      return p
    return p + jnp.asarray(noise * rng.standard_normal(p.shape), p.dtype)
  return jax.tree.map(add, params)


def to_audio(q: np.ndarray, q_type: str, q_levels: int, level: str = "minmax",
             target_rms: np.ndarray | None = None,
             span: tuple[float, float] | None = None) -> np.ndarray:
  """Levels [B, N] -> float32 audio [B, N] at ``level`` (see ``levels``):
  ``minmax`` (the paper's +-0.475), ``class`` (``target_rms`` [B]), ``peak``,
  ``none`` or ``prime`` (``span``: the prime recording's min and max)."""
  x = quant.dequantize(np.asarray(q), q_type, q_levels)
  return levels.apply(x, level, target_rms, span=span)
