"""Tests of generation (samplernn_jax/sampling.py) against the training forward.

The sampler is a nested ``lax.scan`` that steps the tiers one frame (and the
sample tier one sample) at a time; training runs the same model over whole
chunks. Teacher forcing ties the two together: the sequence the sampler drew,
prefixed with S samples of Q_ZERO and run through ``SampleRNN.__call__`` from
``initial_state``, must give the same per-sample log-probabilities, for every
model variant. Then the sampler's own properties (block size, keys,
temperature 0, class mixes) on random models, and finally a tiny model
trained on two synthetic textures whose generated spectra must follow the
class they are conditioned on.

Tiny sizes throughout (dim 16, 96-160 samples) so that the file runs in about
a minute on 2 CPU cores; most of that is compilation and the trained model.
"""
import functools
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal

from conftest import REPO, nested_eqns, perturbed, subprocess_env
from samplernn_jax import config as config_lib
from samplernn_jax import quantize as quant
from samplernn_jax import sampling, steps, synthetic
from samplernn_jax.model import SampleRNN, log_probs

N_CLASSES = 3
CLASS_VECS = np.eye(N_CLASSES, dtype=np.float32)[[0, 2]]  # two clips: classes 0 and 2
N = 96            # generated samples in the equivalence tests (6 top frames of 16, 12 of 8)
BLOCK = 32        # block_samples: several compiled calls per run
TOL = 1e-4        # float32 log-prob agreement (measured: at most 2e-6)


def spy_blocks(monkeypatch, change=None):
  """A list that gets, for each compiled block ``sampling.generate`` runs,
  its (unroll, batched_draws) as passed to ``_generate_block``; ``change``
  (i, (carry, x, logp)) -> the block's result, for the i-th block."""
  seen, real = [], sampling._generate_block

  def spy(*args):
    seen.append(tuple(args[9:11]))
    out = real(*args)
    return out if change is None else change(len(seen) - 1, out)
  monkeypatch.setattr(sampling, "_generate_block", spy)
  return seen


# Each variant changes one thing of a small paper-like model (two tiers,
# frame size 16, GRU, 2 layers, weight norm, learned h0, sample embedding).
VARIANTS = {
    "paper_gru": {},
    "three_tier": dict(frame_size=8, frame_sizes=(8, 2)),
    "lstm": dict(rnn_type="LSTM"),
    "skip_conn": dict(skip_conn=True),
    "one_hot_input": dict(emb_size=0),
    "real_input": dict(sample_input="real"),
    "class_embedding": dict(cond_type="embedding", cond_emb_size=4, cond_sample_tier=True),
    "no_weight_norm": dict(weight_norm=False),
    "no_learn_h0": dict(learn_h0=False),
}


def make_config(**overrides):
  c = config_lib.base_config()
  c.dim = 16
  c.n_rnn = 2
  c.emb_size = 8
  c.n_classes = N_CLASSES
  c.seq_len = 32
  c.update(overrides)
  return c


def build(overrides, seed=0):
  """Model and perturbed random parameters of a variant.

  Every parameter gets N(0, 0.1) noise on top of its initialisation, so that
  biases, the learned h0 and the weight-norm scales are not at their special
  initial values (zeros, column norms) and a mix-up of them would show.
  """
  model = config_lib.build_model(make_config(**overrides))
  return model, perturbed(steps.init_params(model, jax.random.key(seed), 32), seed)


@pytest.fixture(scope="module")
def variant():
  """name -> (model, params) of a variant, each built once per module."""
  cache = {}

  def get(name):
    if name not in cache:
      cache[name] = build(VARIANTS[name])
    return cache[name]
  return get


@functools.partial(jax.jit, static_argnums=0)
def forward_logits(model, params, x, class_vec):
  """The training forward over a whole sequence x [B, N] from h0: logits [B, N, Q].

  The chunk is x prefixed with S = frame_sizes[0] samples of Q_ZERO, as the
  sampler starts and as training prepends them to every clip.
  """
  s = model.frame_sizes[0]
  pad = jnp.full((x.shape[0], s), quant.q_zero(model.q_levels), jnp.int32)
  chunk = jnp.concatenate([pad, x.astype(jnp.int32)], axis=1)
  variables = {"params": params}
  h = model.apply(variables, x.shape[0], method=SampleRNN.initial_state)
  logits, _ = model.apply(variables, chunk, class_vec, h)
  return logits


def forward_log_probs(model, params, x, class_vec):
  x = jnp.asarray(x)
  return np.asarray(log_probs(forward_logits(model, params, x, jnp.asarray(class_vec)), x))


def real_sequence(n, batch, q_levels=256, seed=0):
  """Quantised synthetic audio [batch, n] (tone, rumble, ...): a realistic sequence."""
  rng = np.random.default_rng(seed)
  clips = np.stack([synthetic.make_clip(i % 4, n, rng) for i in range(batch)])
  return quant.quantize(clips.astype(np.float64), "linear", q_levels)


# ---------------------------------------------------------------------------
# What the sampler runs: prepare() rewrites (model, params) into the same function.


@pytest.mark.parametrize("name", list(VARIANTS))
def test_prepare_keeps_the_function(variant, name):
  """Weight norm folded, the embedding turned into look-up tables and
  hidden1's kernel multiplied into what feeds it (the look-up tables or the
  real-valued input's kernel, the class conditioning's kernel, the last
  frame tier's output): the training forward gives the same logits (float32,
  within 1e-5 relative) for every variant (three tiers, skip connections,
  real-valued input, a conditioned sample tier...). Rules out a fold that
  misses one of hidden1's inputs, or its bias."""
  model, params = variant(name)
  fast_model, fast_params = sampling.prepare(model, params)
  assert not fast_model.weight_norm and fast_model.fold_hidden1
  assert "hidden1" not in fast_params["sample_tier"]
  if model.sample_input == "embedding":
    assert fast_model.sample_input == "one_hot"
    assert "embedding" not in fast_params["sample_tier"]
  x = jnp.asarray(real_sequence(N, 2))  # N: the forward compiled once for the tests below
  ref = forward_logits(model, params, x, jnp.asarray(CLASS_VECS))
  got = forward_logits(fast_model, fast_params, x, jnp.asarray(CLASS_VECS))
  scale = float(jnp.abs(ref).max())
  assert float(jnp.abs(got - ref).max()) <= 1e-5 * scale


@pytest.mark.parametrize("name, matmuls", [("paper_gru", 2), ("real_input", 3),
                                           ("class_embedding", 4)])
def test_prepared_sample_step_runs_one_matmul_fewer(variant, name, matmuls):
  """The sampler's sample-tier step (one sample, as the scan runs it) runs
  hidden2 and the output as matmuls, plus the real-valued input's, or the
  class embedding's and the sample tier's conditioning kernel, where the
  variant has them, and nothing for hidden1 (its
  kernel folded: compiled for an H200, one kernel fewer a generated sample).
  Unprepared, the same step runs one more. Rules out a prepare that leaves
  the hidden1 matmul in the loop."""
  model, params = variant(name)
  cond = jnp.asarray(CLASS_VECS)
  s, h = model.frame_sizes[-1], model.dim

  def dots(m, p):
    step = lambda p: m.apply({"params": p}, jnp.zeros((2, 1, s), jnp.int32),
                             jnp.zeros((2, 1, h)), m.apply({"params": p}, cond,
                                                           method=SampleRNN.conditioning),
                             method=SampleRNN.sample_logits)
    return sum(e.primitive.name == "dot_general"
               for e in nested_eqns(jax.make_jaxpr(step)(p).jaxpr))
  assert dots(*sampling.prepare(model, params)) == matmuls
  assert dots(*sampling.prepare(model, params, fold_hidden1_kernel=False)) == matmuls + 1


@pytest.mark.parametrize("name", ["paper_gru", "real_input", "lstm"])
def test_bf16_sampler_casts_its_matmul_kernels_once(name):
  """Below float32, prepare casts every matmul's kernel to the model's dtype
  once (the matmuls cast them anyway, in every frame of the sampler's loop)
  and leaves the look-up tables, biases and the rest float32: the same
  samples and log-probs to the bit as the float32-stored parameters (run
  for the paper's GRU only: the dtypes are what differs between the
  variants). Rules out casting the gathered tables or a bias (a rounding
  change), and a cast that never happens."""
  model, params = build(dict(VARIANTS[name], dtype="bfloat16"))
  fast, cast = sampling.prepare(model, params)
  _, kept = sampling.prepare(model.clone(dtype=jnp.float32), params)
  flat = jax.tree_util.tree_flatten_with_path(cast)[0]
  for path, x in flat:
    names = [getattr(k, "key", str(k)) for k in path]
    table = names[-2:] == ["prev_samples", "kernel"] and fast.sample_input == "one_hot"
    want = jnp.bfloat16 if names[-1] == "kernel" and not table else jnp.float32
    assert x.dtype == want, names
  if name != "paper_gru":
    return
  run = lambda p: sampling.generate(fast, p, CLASS_VECS, N, jax.random.key(3),
                                    prepare_fn=lambda m, q: (m, q))
  (x1, lp1), (x2, lp2) = run(cast), run(kept)
  np.testing.assert_array_equal(x1, x2)
  np.testing.assert_array_equal(lp1, lp2)


@pytest.mark.parametrize("l1", ["table", "matmul"])
def test_bf16_sampler_is_as_close_to_the_float32_function_as_bf16_training(l1):
  """Below float32 the sampler cannot match the training forward's rounding
  bit for bit: its look-up tables and hidden1's fold are computed in float32
  and rounded once, where the training forward rounds each matmul's
  operands (measured on dim 64: up to 0.02-0.03 nats apart). What it must
  keep is the trained parameters' function as well as bfloat16 allows: its
  log-probs of a real sequence are no further (mean absolute difference,
  with a 25 % margin; largest, 0.05 nats) from the float32 forward's than
  the bfloat16 training forward's are. ``l1``: the sample tier's first
  layer in training (``table``; ``matmul``, the GPU's default). Rules out
  a sampler that rounds coarser than that: its look-up tables cast to
  bfloat16 (measured: 1.5-1.8 times the training forward's distance). A
  single extra bfloat16 rounding (of W1 before the fold, say) stays within
  bfloat16's own noise here and is not seen: the float32 tests hold the
  rewrites themselves."""
  model, params = build(dict(dim=64, emb_size=16, dtype="bfloat16", sample_l1=l1))
  f32 = model.clone(dtype=jnp.float32)
  x = real_sequence(64, 2)
  _, lp = sampling.generate(model, params, CLASS_VECS, x.shape[1], jax.random.key(0), forced=x)
  ref = forward_log_probs(f32, params, x, CLASS_VECS)
  train_bf16 = forward_log_probs(model, params, x, CLASS_VECS)
  assert np.abs(train_bf16 - ref).mean() > 1e-3  # bfloat16 does round here
  assert np.abs(lp - ref).mean() <= 1.25 * np.abs(train_bf16 - ref).mean()
  assert np.abs(lp - ref).max() <= 0.05


def test_nan_parameters_or_class_vectors_are_an_error_not_silence(variant, monkeypatch):
  """A NaN in the parameters (an imported or hand-edited checkpoint) or in
  a class vector built in Python: a ValueError at the block where the
  log-probs stop being finite (the first here; a later block, made
  non-finite by hand, is named by its first sample). Rules out the draw as
  it was: the argmax of NaN logits is level 0, so every sample came out
  level 0 and the clips were constant, with no error; and a check of the
  first block alone, or one that names sample 0 whatever the block."""
  model, params = variant("paper_gru")
  bad = jax.tree_util.tree_map_with_path(
      lambda path, p: p.at[0].set(jnp.nan) if "output" in jax.tree_util.keystr(path)
      and "bias" in jax.tree_util.keystr(path) else p, params)
  with pytest.raises(ValueError, match="the model's log-probs are not finite in the block "
                                       "from sample 0: its parameters or the class vectors"):
    sampling.generate(model, bad, CLASS_VECS, 32, jax.random.key(0), block_samples=BLOCK)
  vecs = CLASS_VECS.copy()
  vecs[1, 0] = np.nan
  with pytest.raises(ValueError, match="not finite in the block from sample 0"):
    sampling.generate(model, params, vecs, 32, jax.random.key(0), block_samples=BLOCK)
  # log-probs that stop being finite in the third block: named there, and
  # the two blocks before it were given out
  spy_blocks(monkeypatch, lambda i, out: out if i < 2 else (*out[:2], out[2] * jnp.nan))
  blocks = sampling.generate_blocks(model, params, CLASS_VECS, 4 * BLOCK, jax.random.key(0),
                                    block_samples=BLOCK)
  assert [x.shape[1] for x, _ in (next(blocks), next(blocks))] == [BLOCK, BLOCK]
  with pytest.raises(ValueError, match=f"not finite in the block from sample {2 * BLOCK}: "):
    next(blocks)


# ---------------------------------------------------------------------------
# Teacher forcing: the sampler is the trained model.


@pytest.mark.parametrize("name", list(VARIANTS))
def test_generated_log_probs_equal_training_forward(variant, name):
  """For each variant (perturbed parameters: biases, h0 and weight-norm scales off their initial
  values), 96 samples drawn in blocks of 32 for two clips are int32 levels spread over more
  than 10 values, and the sampler's log-probs equal the training forward's on that sequence
  within 1e-4 (measured 2e-6; they vary by over 1 nat). Rules out tiers that see their inputs
  a frame or a sample off, a state not carried across blocks, and a sampler step that drops a
  bias or the class vector."""
  model, params = variant(name)
  x, lp = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(1),
                            block_samples=BLOCK)
  assert x.shape == lp.shape == (2, N)
  assert x.dtype == np.int32 and x.min() >= 0 and x.max() < model.q_levels
  # A random model's draws are spread over many levels (not a constant run).
  assert len(np.unique(x)) > 10
  ref = forward_log_probs(model, params, x, CLASS_VECS)
  np.testing.assert_allclose(lp, ref, rtol=0, atol=TOL)
  # The log-probs vary from sample to sample: the comparison is not trivial.
  assert np.ptp(ref) > 1.0


@pytest.mark.parametrize("name", ["paper_gru", "three_tier", "lstm", "class_embedding"])
def test_forced_sequence_log_probs_equal_training_forward(variant, name):
  """Forcing every sample: the sampler returns the sequence and its training log-probs."""
  model, params = variant(name)
  forced = real_sequence(N, 2)
  x, lp = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(1),
                            forced=forced, block_samples=BLOCK)
  np.testing.assert_array_equal(x, forced)
  np.testing.assert_allclose(lp, forward_log_probs(model, params, forced, CLASS_VECS),
                             rtol=0, atol=TOL)


def test_partly_forced_prefix_then_drawn(variant):
  """A forced prefix (priming) is kept; the drawn rest follows it as training would."""
  model, params = variant("paper_gru")
  prefix = real_sequence(40, 2)  # not a multiple of S: the prime ends inside a frame
  x, lp = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(1),
                            forced=prefix, block_samples=BLOCK)
  np.testing.assert_array_equal(x[:, :40], prefix)
  np.testing.assert_allclose(lp, forward_log_probs(model, params, x, CLASS_VECS),
                             rtol=0, atol=TOL)
  free, _ = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(1),
                              block_samples=BLOCK)
  # The prime changed what follows. The draw at position t uses fold_in(key, t)
  # in both runs, so where the two distributions are alike the same level comes
  # out: measured, 46 % of the positions differ.
  assert (x[:, 40:] != free[:, 40:]).mean() > 0.2


# ---------------------------------------------------------------------------
# Properties of the sampler.


def test_output_does_not_depend_on_block_samples(variant):
  """Same key: the same audio whether made in blocks of 32, 48 or all at once.

  186 samples: not a multiple of the frame size, so the run is cut inside the
  last block (of 48: 42 kept) and the single block of 1000 is shortened to
  192. block_samples=40 runs blocks of 48 (rounded up to whole top frames of
  16): rules out a block size not rounded up, whose second block would start
  inside a frame. (Blocks of 32 reuse the other tests' compiled program.)
  generate's progress callback hears each block's samples a clip (48, 48,
  48, 42 for blocks of 48: sample.py's bar counts samples), not its clips.
  """
  model, params = variant("paper_gru")
  key = jax.random.key(7)
  heard = []
  runs = [sampling.generate(model, params, CLASS_VECS, 186, key, block_samples=b,
                            progress=heard.append if b == 48 else None)
          for b in (32, 48, 1000)]
  assert heard == [48, 48, 48, 42]
  for x, lp in runs:
    assert x.shape == lp.shape == (2, 186)
  for x, lp in runs[1:]:
    np.testing.assert_array_equal(x, runs[0][0])
    np.testing.assert_allclose(lp, runs[0][1], rtol=0, atol=1e-5)
  blocks = list(sampling.generate_blocks(model, params, CLASS_VECS, 186, key,
                                         block_samples=40))
  assert [b[0].shape[1] for b in blocks] == [48, 48, 48, 42]
  np.testing.assert_array_equal(np.concatenate([b[0] for b in blocks], 1), runs[0][0])


@pytest.mark.parametrize("name", ["paper_gru", "three_tier"])
def test_output_does_not_depend_on_unroll(variant, name, monkeypatch):
  """Same key: the same samples and log-probs whether the innermost scan runs
  one sample step per iteration, 3 (not a divisor of the bottom frame: a
  remainder step) or all of them (16; 2 for the three-tier model). Rules out
  an unrolled body that reuses one sample's key, position or buffer for the
  next (each sample's key is fold_in(key, position)), and checks that the
  setting reaches the innermost scan of the compiled block (its jaxpr), so
  the equality is not that of one program run three times, and that
  ``generate`` passes the setting to every block it runs. A bad unroll is
  refused."""
  model, params = variant(name)
  fast, fast_params = sampling.prepare(model, params)
  variables = {"params": fast_params}
  carry = sampling.initial_carry(fast, variables, 2)
  forced = jnp.full((2, 2 * fast.frame_sizes[0]), -1, jnp.int32)

  def scan_unrolls(unroll):
    jaxpr = jax.make_jaxpr(sampling._generate_block, static_argnums=(0, 8, 9))(
        fast, variables, jnp.asarray(CLASS_VECS), carry, forced, jax.random.key(0),
        jnp.float32(1.0), jnp.float32(1.0), False, unroll)
    return sorted(e.params["unroll"] for e in nested_eqns(jaxpr.jaxpr)
                  if e.primitive.name == "scan")
  assert scan_unrolls(1)[-1] == 1 and scan_unrolls(3)[-1] == 3, scan_unrolls(3)
  key = jax.random.key(11)
  unrolls = (1, 3, model.frame_sizes[-1])
  seen = spy_blocks(monkeypatch)
  runs = [sampling.generate(model, params, CLASS_VECS, N, key, block_samples=BLOCK,
                            unroll=u) for u in unrolls]
  assert [u for u, _ in seen] == [u for u in unrolls for _ in range(N // BLOCK)], seen
  for x, lp in runs[1:]:
    np.testing.assert_array_equal(x, runs[0][0])
    np.testing.assert_allclose(lp, runs[0][1], rtol=0, atol=1e-6)
  assert len(np.unique(runs[0][0])) > 10  # real draws, not a constant
  with pytest.raises(ValueError, match="unroll"):
    sampling.generate(model, params, CLASS_VECS, N, key, unroll=0)


def test_draws_are_categoricals_with_the_positions_keys():
  """``_draw_with`` on the noise of ``_frame_noise(key, pos, n)`` takes at
  position pos + i exactly ``jax.random.categorical(fold_in(key, pos + i),
  logits_i / T)`` (the documented key schedule; the same bits, so a clip is
  the same whether its noise is drawn per sample or per frame), on random
  logits [n, B, Q] at T = 0.8. Rules out noise of another position (off by
  one, or the frame's first for all), noise shared across rows, and the
  temperature applied to the noise instead of the logits."""
  key, n, b, q, pos, t = jax.random.key(5), 16, 3, 256, 37, 0.8
  logits = 3.0 * jax.random.normal(jax.random.key(6), (n, b, q))
  noise = sampling._frame_noise(key, jnp.int32(pos), n, (b, q))
  got = jax.vmap(lambda z, l: sampling._draw_with(z, l, jnp.float32(t)))(noise, logits)
  want = jnp.stack([jax.random.categorical(jax.random.fold_in(key, pos + i), logits[i] / t)
                    for i in range(n)])
  np.testing.assert_array_equal(got, want)
  assert len(np.unique(np.asarray(got))) > 20  # real draws, not a constant


def test_every_draw_is_categoricals_with_its_positions_key(variant):
  """A whole generated run (three-tier model, blocks of 32, T = 0.8): the
  sample at every position t is ``jax.random.categorical(fold_in(key, t),
  logits_t / T)``, with logits_t the training forward's on the generated
  sequence (teacher forcing). Ties the documented key schedule to the
  sampler end to end, not only to its helpers: rules out positions counted
  from the block, top frame or bottom frame instead of the run, one clip's
  noise used for another, and the temperature applied to the noise."""
  model, params = variant("three_tier")
  key, t = jax.random.key(21), 0.8
  x, _ = sampling.generate(model, params, CLASS_VECS, N, key, temperature=t,
                           block_samples=BLOCK)
  logits = forward_logits(model, params, jnp.asarray(x), jnp.asarray(CLASS_VECS))
  want = np.stack([jax.random.categorical(jax.random.fold_in(key, i), logits[:, i] / t)
                   for i in range(N)], axis=1)  # [B, N]
  np.testing.assert_array_equal(x, want)


@pytest.mark.parametrize("name, guidance", [("three_tier", 1.0), ("class_embedding", 3.0)])
def test_batched_draws_take_the_per_sample_samplers_samples(variant, name, guidance,
                                                            monkeypatch):
  """Drawing a bottom frame's noise before its sample steps and computing
  their log-probs after them (``batched_draws``, the default) gives the
  samples of the sampler that does both inside every step, and its log-probs
  within 1e-5 (measured: at most 1e-6, the batched log-softmax sums in
  another order), for a three-tier model (bottom frames of 2, 4 per top
  frame of 8) and a guided run. Rules out noise of the wrong positions
  (counted from the frame or block instead of the run) and log-probs of the
  guided logits instead of the model's, and a setting that never reaches
  the compiled blocks (the batched form compared with itself)."""
  model, params = variant(name)
  key = jax.random.key(13)
  seen = spy_blocks(monkeypatch)
  runs = [sampling.generate(model, params, CLASS_VECS, N, key, block_samples=BLOCK,
                            guidance=guidance, batched_draws=b) for b in (True, False)]
  assert [b for _, b in seen] == [b for b in (True, False) for _ in range(N // BLOCK)], seen
  np.testing.assert_array_equal(runs[0][0], runs[1][0])
  np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=0, atol=1e-5)
  assert len(np.unique(runs[0][0])) > 10  # real draws, not a constant


@pytest.mark.parametrize("name, guidance", [("paper_gru", 1.0), ("class_embedding", 3.0)])
def test_min_rows_runs_copies_and_returns_the_clips_asked_for(variant, name, guidance):
  """``min_rows`` (one clip run as two rows, for a GPU's matrix-multiply
  kernels) returns exactly the clips asked for: their samples, partly
  forced, those of the plain run (a row's noise does not depend on the rows
  beside it; on this CPU the padded matmuls round alike, measured) and
  their log-probs within 1e-5; a guided run, already two rows, is left as
  it is at min_rows=2 and padded with one clip (two rows more) at 3 and at
  4, not two. The compiled blocks of each run see its padded batch.
  Rules out padded rows returned to the caller, noise that depends on the
  number of rows, forced samples not reaching the clip's own row, and a
  setting that never reaches the compiled block (what the pad rows draw
  cannot be seen: they are dropped), and a guided clip counted as three
  rows (min_rows 3 then runs two). A bad min_rows is refused."""
  model, params = variant(name)
  key, vec = jax.random.key(17), CLASS_VECS[1:2]
  forced = np.full((1, 5), 7, np.int32)
  plain = sampling.generate(model, params, vec, N, key, block_samples=BLOCK,
                            guidance=guidance, forced=forced)
  seen = []
  real = sampling._generate_block

  def spy(model, variables, cond_vec, *args):
    seen.append(cond_vec.shape[0])
    return real(model, variables, cond_vec, *args)
  runs, rows = [], []
  try:
    sampling._generate_block = spy
    for m in (2, 3, 4):
      seen.clear()
      runs.append(sampling.generate(model, params, vec, N, key, block_samples=BLOCK,
                                    guidance=guidance, forced=forced, min_rows=m))
      rows.append(set(seen))
  finally:
    sampling._generate_block = real
  # rows of the compiled blocks at min_rows 2, 3 and 4: a guided clip is two rows
  assert rows == ([{2}, {4}, {4}] if guidance != 1.0 else [{2}, {3}, {4}])
  for x, lp in runs:
    assert x.shape == lp.shape == (1, N)
    np.testing.assert_array_equal(x, plain[0])
    np.testing.assert_allclose(lp, plain[1], rtol=0, atol=1e-5)
  assert (plain[0][0, :5] == 7).all() and len(np.unique(plain[0])) > 10
  with pytest.raises(ValueError, match="min_rows"):
    sampling.generate(model, params, vec, N, key, min_rows=0)


def test_same_key_same_audio_other_key_other_audio(variant):
  """Two runs with the same key give the same samples; another key changes more than half the
  positions (measured 99%), and the two clips of one run (classes 0 and 2) differ in more than
  half. Rules out randomness from outside the key (a global or time seed), a key that is
  ignored, and one draw copied to every clip of the batch."""
  model, params = variant("paper_gru")
  a, _ = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(3), block_samples=BLOCK)
  b, _ = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(3), block_samples=BLOCK)
  c, _ = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(4), block_samples=BLOCK)
  np.testing.assert_array_equal(a, b)
  # Measured: about 99 % of the positions differ (a random model is far from peaked).
  assert (a != c).mean() > 0.5
  # The two clips of one run (different classes, same key) differ too.
  assert (a[0] != a[1]).mean() > 0.5


def test_temperature_zero_takes_the_argmax(variant):
  """Every sample of a temperature-0 run is the argmax of the logits at its position."""
  model, params = variant("paper_gru")
  x, _ = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(3),
                           temperature=0.0, block_samples=BLOCK)
  logits = np.asarray(forward_logits(model, params, jnp.asarray(x), jnp.asarray(CLASS_VECS)))
  np.testing.assert_array_equal(np.argmax(logits, axis=-1), x)
  # The key does not matter then, and the result is not the plain draw.
  y, _ = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(99),
                           temperature=0.0, block_samples=BLOCK)
  np.testing.assert_array_equal(x, y)
  z, _ = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(3), block_samples=BLOCK)
  assert (x != z).mean() > 0.5


@pytest.mark.parametrize("name", ["paper_gru", "class_embedding"])
def test_guided_draws_follow_the_guided_logits(variant, name):
  """With guidance g, a temperature-0 run takes at every position the argmax
  of l_u + g (l_c - l_u), where l_c and l_u are the training forward's logits
  of the generated sequence with the clip's class vector and with the zero
  vector; the log-probs returned are the conditional model's. The first P = 20
  samples are a forced prime (it ends inside the second frame). Rules out
  guidance that is ignored, the formula with the terms swapped, and an
  unconditional stream fed other samples than the one kept, the draw its
  forced sample replaced, say (its logits would not be the forward's on the
  kept sequence)."""
  model, params = variant(name)
  g, p = 3.0, 20
  prime = real_sequence(p, 2)
  x, lp = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(3), forced=prime,
                            temperature=0.0, block_samples=BLOCK, guidance=g)
  np.testing.assert_array_equal(x[:, :p], prime)
  lc = np.asarray(forward_logits(model, params, jnp.asarray(x), jnp.asarray(CLASS_VECS)))
  lu = np.asarray(forward_logits(model, params, jnp.asarray(x),
                                 jnp.zeros_like(jnp.asarray(CLASS_VECS))))
  guided = (lu + g * (lc - lu))[:, p:]
  # Ties within float32 noise aside, the argmax of the guided logits is taken.
  top = np.take_along_axis(guided, x[:, p:, None], -1)[..., 0]
  assert (top >= guided.max(-1) - 1e-4 * np.abs(guided).max()).all()
  assert (np.argmax(guided, -1) != np.argmax(lc[:, p:], -1)).mean() > 0.05  # guidance matters
  np.testing.assert_allclose(lp, forward_log_probs(model, params, x, CLASS_VECS),
                             rtol=0, atol=TOL)
  plain, _ = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(3), forced=prime,
                               temperature=0.0, block_samples=BLOCK)
  assert (plain[:, p:] != x[:, p:]).mean() > 0.05


def test_low_temperature_sharpens_the_distribution(variant):
  """Temperature 0.5 draws more probable samples (under T = 1) than T = 1 does."""
  model, params = variant("paper_gru")
  lps = {}
  for t in (1.0, 0.5):
    x, _ = sampling.generate(model, params, CLASS_VECS, N, jax.random.key(5),
                             temperature=t, block_samples=BLOCK)
    lps[t] = forward_log_probs(model, params, x, CLASS_VECS).mean()
  assert lps[0.5] > lps[1.0] + 0.3, lps  # measured: -4.4 vs -5.0 nats


@pytest.mark.parametrize("name", ["paper_gru", "class_embedding"])
def test_class_mix(variant, name):
  """A (0.5, 0.5) mix generates, matches the training forward fed the same
  mix vector, and is neither pure class."""
  model, params = variant(name)
  mix = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]], np.float32)
  pure = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], np.float32)
  key = jax.random.key(11)
  xm, lpm = sampling.generate(model, params, mix, N, key, block_samples=BLOCK)
  xp, _ = sampling.generate(model, params, pure, N, key, block_samples=BLOCK)
  assert np.isfinite(lpm).all()
  np.testing.assert_allclose(lpm, forward_log_probs(model, params, xm, mix), rtol=0, atol=TOL)
  np.testing.assert_array_equal(xm[1], xp[1])  # the pure row is unaffected by its neighbour
  # Same key, position-keyed draws: where the distributions are alike the
  # same level comes out (measured: 21 % of the positions differ from class 0's).
  assert (xm[0] != xp[0]).mean() > 0.05
  # The mixed clip's log-probs under either pure class differ from the mix's.
  for k in (0, 1):
    vec = np.eye(N_CLASSES, dtype=np.float32)[[k, 1]]
    other = forward_log_probs(model, params, xm, vec)[0]
    assert np.abs(other - lpm[0]).max() > 0.05, k


@pytest.mark.parametrize("bad", [256, -2])
def test_forced_levels_outside_the_model_are_refused(variant, bad):
  """A forced value at or above q_levels (raw int16 PCM, levels of another
  q_levels) or below -1: a ValueError naming the range; -1 (drawn), 0 and
  255 are taken. Rules out taking it silently: the tables clamp the index
  (the model hears another level) and the returned clip decodes far outside
  [-1, 1] with NaN log-probs; and a range check that refuses -1, the
  documented mark of a sample to draw (a prime shorter in one clip)."""
  model, params = variant("paper_gru")
  forced = np.zeros((CLASS_VECS.shape[0], 4), np.int32)
  forced[1, 2] = bad
  with pytest.raises(ValueError, match=rf"forced samples range over .*{bad}.* 0\.\.255"):
    sampling.generate(model, params, CLASS_VECS, N, jax.random.key(0), forced=forced)
  forced[1, 2:], forced[0, 1] = -1, model.q_levels - 1
  # checked when called (no block compiled): taken
  sampling.generate_blocks(model, params, CLASS_VECS, N, jax.random.key(0), forced=forced)


def test_audio_forced_instead_of_levels_is_refused(variant):
  """Float samples forced (audio in [-1, 1] passed where levels belong):
  a ValueError naming the dtype and the quantisation to use. Rules out the
  check as it was, a range check alone, which took a 0.3-amplitude sine
  (every value in [-1, 256)) and truncated it to level 0 without a word."""
  model, params = variant("paper_gru")
  audio = 0.3 * np.sin(np.arange(4 * CLASS_VECS.shape[0])).reshape(CLASS_VECS.shape[0], 4)
  with pytest.raises(ValueError, match=r"forced samples of dtype float64: expected integer "
                                       r"levels 0\.\.255 .* not the audio itself"):
    sampling.generate(model, params, CLASS_VECS, N, jax.random.key(0), forced=audio)


@pytest.mark.parametrize("n", [32.0, True])
def test_a_sample_count_that_is_no_int_is_refused_by_the_call(variant, n):
  """n_samples of 32.0 (``2.5 * rate`` in a notebook) or True: a ValueError
  from the call itself, as the docstring promises for every check. Rules out
  the check as it was (``int(v) != v``), which let 32.0 through to a
  TypeError inside the first block."""
  model, params = variant("paper_gru")
  with pytest.raises(ValueError, match=rf"n_samples={n!r}: expected a positive integer"):
    sampling.generate_blocks(model, params, CLASS_VECS, n, jax.random.key(0))


def test_a_run_past_the_int32_position_is_refused(variant):
  """2**31 samples or more in one run, counted in whole bottom frames (the
  run steps them): a ValueError, which for 2**31 - 1 samples says the run
  rounds them up. Rules out the position counter (int32) wrapping silently
  after 37 hours at 16 kHz, which would repeat the draws' noise and reset
  nothing else, and the last frame's samples past 2**31 let through."""
  model, params = variant("paper_gru")
  with pytest.raises(ValueError, match=r"n_samples=2147483648: expected fewer than 2\*\*31"):
    next(sampling.generate_blocks(model, params, CLASS_VECS, 2 ** 31, jax.random.key(0)))
  with pytest.raises(ValueError, match=r"n_samples=2147483647 \(run as 2147483648: whole "
                     r"bottom frames\): expected fewer than 2\*\*31"):
    next(sampling.generate_blocks(model, params, CLASS_VECS, 2 ** 31 - 1, jax.random.key(0)))


def test_forced_blocks_hold_only_the_prime():
  """Each block's forced samples are the prime's where it reaches and -1
  beyond, and the run keeps only the prime ([B', P], not [B', total]).
  Rules out the old whole-length array (an 8-hour stream of 15 classes held
  28 GB before its first block) and a block cut from the wrong offset."""
  vec = np.eye(3, dtype=np.float32)[:2]
  prime = np.arange(10, dtype=np.int32).reshape(2, 5)
  rows, kept = sampling._run_rows(vec, prime, 16000 * 3600, 3, False, 256, 3)
  assert kept.shape == (3, 5) and rows.shape == (3, 3)  # one row copied up to min_rows
  np.testing.assert_array_equal(kept[2], prime[1])
  np.testing.assert_array_equal(sampling._forced_block(kept, 4, 3)[:2],
                                [[4, -1, -1], [9, -1, -1]])
  np.testing.assert_array_equal(sampling._forced_block(kept, 5, 2), np.full((3, 2), -1))
  _, none = sampling._run_rows(vec, None, 16000 * 3600, 1, False, 256, 3)
  assert none.shape == (2, 0)


@pytest.mark.parametrize("b, shape", [(2, (3, N - 6)), (2, (2, N)), (2, (2 * N,)),
                                      (1, (N - 6,))])
def test_forced_shape_is_checked(variant, b, shape):
  """Forced samples for another number of clips, for more samples than asked
  for (even within the last frame the program runs anyway), or not [B, n]
  (1-D, for two clips or for the one clip asked for): a ValueError giving
  the shape that fits. Rules out forcing positions that are never
  returned, and a 1-D array read as one clip (np.atleast_2d: only a run of
  one clip shows it)."""
  model, params = variant("paper_gru")
  n = N - 6  # not whole frames: the program runs N
  with pytest.raises(ValueError, match=rf"forced samples of shape .* do not fit \[{b}, <= {n}\]"):
    sampling.generate(model, params, CLASS_VECS[:b], n, jax.random.key(0),
                      forced=np.zeros(shape, np.int32))


@pytest.mark.parametrize("vec", [np.eye(N_CLASSES, dtype=np.float32)[0],  # one clip, not [B, C]
                                 np.eye(N_CLASSES + 1, dtype=np.float32)[:2],
                                 np.zeros((0, N_CLASSES), np.float32)])
def test_class_vectors_of_another_shape_are_refused(variant, vec):
  """Class vectors not [clips, the model's classes] (a single 1-D vector, a
  column too many, no clip): a ValueError naming the shape expected, before
  anything compiles. Rules out Flax's parameter-shape error deep inside the
  first tier (a wrong C), numpy's IndexError (1-D), and an empty run."""
  model, params = variant("paper_gru")
  with pytest.raises(ValueError, match=rf"class_vec of shape .*: expected \[clips, {N_CLASSES}\]"):
    sampling.generate_blocks(model, params, vec, N, jax.random.key(0))


@pytest.mark.parametrize("temperature,guidance", [(-0.5, 1.0), (float("nan"), 1.0),
                                                  (float("inf"), 1.0), (1.0, float("nan")),
                                                  (1.0, float("-inf"))])
def test_a_negative_or_nonfinite_draw_setting_is_refused(variant, temperature, guidance):
  """A negative or non-finite temperature, or a non-finite guidance (NaN,
  -inf): a ValueError naming the setting. Rules out the sampler's clamp
  turning temperature -0.5 silently into the argmax (its documented meaning
  is only that of 0), NaN scores drawing level 0 throughout, and a guidance
  bounded on one side only (a negative guidance is allowed)."""
  model, params = variant("paper_gru")
  name = "temperature" if guidance == 1.0 else "guidance"
  with pytest.raises(ValueError, match=rf"{name}=.*: expected"):
    sampling.generate_blocks(model, params, CLASS_VECS, N, jax.random.key(0),
                             temperature=temperature, guidance=guidance)


# ---------------------------------------------------------------------------
# A trained model follows its conditioning.

# Band around the tone class's 330 Hz fundamental (its harmonics at 660 and
# 990 Hz carry 1/4 and 1/16 of its power). Fraction of the power in this
# band, measured on the quantised training clips: tone 0.76, rumble 0.11-0.14.
BAND_HZ = (250.0, 420.0)
TRAIN_CLASSES = ("tone", "rumble")  # synthetic.CLASS_NAMES[0:2]


def band_fraction(audio):
  """Fraction of each clip's power (Welch PSD, mean removed) in BAND_HZ: [B]."""
  f, p = scipy.signal.welch(audio - audio.mean(-1, keepdims=True), 16000,
                            nperseg=512, axis=-1)
  band = (f >= BAND_HZ[0]) & (f <= BAND_HZ[1])
  return p[..., band].sum(-1) / p.sum(-1)


# The training and generation of the test below, in a child Python at
# XLA's default optimisation level: its 600 steps of a dim-64 model ran
# about twice as long at the tests' level 0 (conftest.TEST_XLA_FLAGS), which
# pays off only for the tiny programs everywhere else.
SPECTRUM_RUN = r"""
import json, sys
import jax
import numpy as np
from samplernn_jax import config as config_lib
from samplernn_jax import quantize as quant
from samplernn_jax import sample_files, sampling, synthetic, trainer

tmp, classes = sys.argv[1], json.loads(sys.argv[2])
rng = np.random.default_rng(0)
n_clip, per_class = 8000, 16
sid = np.repeat(np.arange(2), per_class)
wav = np.stack([synthetic.make_clip(int(c), n_clip, rng) for c in sid])
np.savez(tmp + "/data/audio_train.npz", wav=wav.astype(np.float16), sid=sid.astype(np.uint8))
with open(tmp + "/data/classes.json", "w") as f:
  json.dump(classes, f)

c = config_lib.base_config()
c.data_dir = tmp + "/data"
c.dim, c.n_rnn, c.emb_size, c.batch_size, c.seq_len = 64, 1, 16, 8, 256
c.learning_rate = 3e-3
c.max_steps = c.eval_every_steps = 600
c.log_every_steps, c.checkpoint_every_steps = 100, 100000
last = trainer.train_and_evaluate(c, tmp + "/run")

loaded = sample_files.load_checkpoint(tmp + "/run", "latest")
n_gen = 8  # clips per class
vecs = np.eye(2, dtype=np.float32)[np.repeat([0, 1], n_gen)]
q, _ = sampling.generate(loaded.model, loaded.params, vecs, 8000, jax.random.key(0))
real_q = quant.quantize(wav.astype(np.float64), c.q_type, c.q_levels)
np.savez(tmp + "/out.npz", gen=sampling.to_audio(q, c.q_type, c.q_levels, "none"),
         real=sampling.to_audio(real_q, c.q_type, c.q_levels, "none"), sid=sid,
         train_bits=last["train_bits"], class_names=np.array(loaded.class_names))
"""


def test_trained_model_generates_the_spectrum_of_its_class(tmp_path):
  """Trains on tone vs rumble, then each generated clip has its class's spectrum.

  Training: 16 clips of 0.5 s per class, dim 64, one GRU layer, batch 8,
  chunks of 256, Adam at 3e-3, 600 steps (about 25 s on 2 CPU cores; the
  train cost falls from 8 to about 3.7 bits). Classifier: the nearer of the
  two real class means of the band fraction (decision point about 0.44).
  Measured over three training seeds, 8 generated 0.5 s clips per class:
  tone 0.72-0.76, rumble 0.12-0.20 (real: 0.76 and 0.125). Asserted: every
  clip classified as its class, and each class mean within 0.15 of the real
  one. With 200 steps (cost 7.4 bits) every clip is noise (band ~0.05)
  and the test fails. Run in a child (SPECTRUM_RUN) at XLA's default
  optimisation level.
  """
  (tmp_path / "data").mkdir()
  env = dict(subprocess_env(), XLA_FLAGS="")
  proc = subprocess.run([sys.executable, "-c", SPECTRUM_RUN, str(tmp_path),
                         json.dumps(list(TRAIN_CLASSES))], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = np.load(tmp_path / "out.npz")
  assert float(out["train_bits"]) < 5.0, float(out["train_bits"])
  assert list(out["class_names"]) == list(TRAIN_CLASSES)
  n_gen = 8
  gen, real, sid = band_fraction(out["gen"]), band_fraction(out["real"]), out["sid"]
  real_means = np.array([real[sid == k].mean() for k in range(2)])
  assert real_means[0] > 0.6 and real_means[1] < 0.2, real_means  # the classes differ
  assigned = np.argmin(np.abs(gen[:, None] - real_means[None, :]), axis=1)
  msg = f"generated band fractions {np.round(gen, 3)}, real class means {np.round(real_means, 3)}"
  np.testing.assert_array_equal(assigned, np.repeat([0, 1], n_gen), err_msg=msg)
  for k in range(2):
    assert abs(gen[k * n_gen:(k + 1) * n_gen].mean() - real_means[k]) < 0.15, msg
