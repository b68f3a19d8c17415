"""Our model is the original's: equivalence with its reference vectors.

tests/data/original_reference/ holds vectors computed by a float64
transcription of the original Theano code (see its README.md): for four small
models (GRU, GRU with skip connections, GRU with one-hot sample input, LSTM)
the parameters under the original's names, two clips, their quantisation and
TBPTT chunks, and the per-sample log-probabilities and frame-RNN states after
each of two chunks. We map the parameters with ``theano_params.from_original``,
run our training forward pass (``SampleRNN.__call__`` from
``SampleRNN.initial_state``, then from the state chunk 0 left), with the
sample tier's first layer in both forms (``L1_FORMS``: a model built from a
config takes 'table' on a CPU and the paper's 'matmul' on a GPU), and compare:

* float32 (our training dtype): log-probabilities and states within 1e-4
  (measured: at most ~6e-6 and ~3e-7);
* float64 (``jax.enable_x64`` and a float64 clone of the model): within 1e-9
  (measured: at most ~5e-15 and ~9e-16), i.e. the same function, equation for equation.

Quantisation and chunking are compared exactly.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from samplernn_jax import config as config_lib
from samplernn_jax import data as data_lib
from samplernn_jax import quantize, steps, theano_params
from samplernn_jax.model import SampleRNN, log_probs

REF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                   "original_reference")
CASES = ("gru", "gru_skip", "gru_onehot", "lstm")
F32_TOL = 1e-4
F64_TOL = 1e-9


def load_case(case):
  with np.load(os.path.join(REF, f"{case}.npz"), allow_pickle=False) as z:
    return {k: z[k] for k in z.files}


def case_config(ref):
  """base_config() with the case's ``config.*`` keys (q_levels 256, linear)."""
  config = config_lib.base_config()
  for key, value in ref.items():
    if key.startswith("config."):
      name = key[len("config."):]
      config[name] = type(config[name])(value.item())
  return config


def original_params(ref):
  return {k[len("param/"):]: v for k, v in ref.items() if k.startswith("param/")}


def template(model, config):
  return steps.abstract_params(model, config.seq_len)


# The sample tier's first-layer forms: the paper's embedding then Linear
# ('matmul', what sample_l1 'auto' picks on a GPU) and the look-up tables
# ('table', what it picks on a CPU, so a model built from a case's config here).
L1_FORMS = ("matmul", "table")


def forward_two_chunks(ref, dtype, l1_impl):
  """Our log-probabilities [2][B, T] and last states [2][B, R, D] in ``dtype``,
  with the sample tier's first layer in form ``l1_impl``."""
  config = case_config(ref)
  model = config_lib.build_model(config)
  params = theano_params.from_original(original_params(ref), config,
                                       template(model, config))
  model = model.clone(dtype=dtype, l1_impl=l1_impl)
  params = jax.tree.map(lambda a: jnp.asarray(a, dtype), params)
  class_vec = jax.nn.one_hot(ref["sid"], config.n_classes, dtype=dtype)

  @jax.jit
  def run(params, chunk, state):
    logits, state = model.apply({"params": params}, chunk, class_vec, state)
    return log_probs(logits, chunk[:, config.frame_size:]), state

  state = model.apply({"params": params}, len(ref["sid"]), method=SampleRNN.initial_state)
  logps, states = [], []
  for i in range(2):
    logp, state = run(params, jnp.asarray(ref[f"chunk{i}"]), state)
    (frame_state,) = state  # one frame tier
    logps.append(np.asarray(logp))
    states.append(np.asarray(frame_state))
  return logps, states


def max_errors(ref, logps, states):
  lp = max(np.abs(logps[i] - ref[f"logp{i}"]).max() for i in range(2))
  st = max(np.abs(states[i] - ref[f"state{i}"]).max() for i in range(2))
  return lp, st


@pytest.mark.parametrize("case", CASES)
def test_forward_float32(case):
  """Our float32 training forward with each case's original parameters (GRU, skip connections,
  one-hot input, LSTM) gives the original's log-probabilities and frame-RNN states after each
  of two chunks (the second from the state the first left) within 1e-4 (measured 6e-6), with
  the sample tier's first layer in either form (L1_FORMS). Rules out a gate order or
  weight-norm axis other than the original's, a dropped bias (the cases' biases are random,
  not zero), a state not carried from chunk to chunk, and a mistake in the paper's 'matmul'
  first layer (e.g. a frame's samples embedded in reverse order), which a model built from
  the config never runs on a CPU."""
  ref = load_case(case)
  for l1 in L1_FORMS:
    logps, states = forward_two_chunks(ref, jnp.float32, l1)
    assert logps[0].dtype == np.float32 and states[1].dtype == np.float32
    assert states[1].shape == ref["state1"].shape
    lp, st = max_errors(ref, logps, states)
    print(f"{case} {l1} float32: max |logp error| {lp:.2e}, max |state error| {st:.2e}")
    assert lp < F32_TOL and st < F32_TOL, l1


@pytest.mark.parametrize("case", CASES)
def test_forward_float64(case):
  """The same forward under jax x64 with a float64 clone of the model: float64 outputs within
  1e-9 of the original's (measured 5e-15), the same equations, with the sample tier's first
  layer in either form (L1_FORMS). Rules out a layer that computes in float32 whatever the
  model's dtype (errors near 1e-7, a hundred times the tolerance; the 'matmul' first
  layer's included, which a model built from the config never runs on a CPU), and outputs
  cast back to float32."""
  ref = load_case(case)
  for l1 in L1_FORMS:
    with jax.enable_x64(True):
      logps, states = forward_two_chunks(ref, jnp.float64, l1)
    assert logps[0].dtype == np.float64 and states[1].dtype == np.float64
    lp, st = max_errors(ref, logps, states)
    print(f"{case} {l1} float64: max |logp error| {lp:.2e}, max |state error| {st:.2e}")
    assert lp < F64_TOL and st < F64_TOL, l1


@pytest.mark.parametrize("case", CASES)
def test_train_cost_is_reference_bits(case):
  """steps.chunk_cost (the train and eval steps' cost) over both chunks gives
  the original's cost in bits, to F32_TOL; and with a mask that leaves out
  targets (a clip's end, of chunk 0 in one row and chunk 1 in the other),
  the count of the others and the mean of their bits from the original's
  log-probabilities, to F32_TOL. Rules out a cost in nats, a mean over the
  wrong axis, and the mask ignored in the cost or the count (with every
  target kept, as in the first pass alone, those agree); every case (skip
  connections and one-hot input included), not only the plain GRU and
  LSTM. (Replaces a check of the fixture's bits against the fixture's own
  log-probabilities, which could not fail on our code.)"""
  ref = load_case(case)
  config = case_config(ref)
  model = config_lib.build_model(config)
  params = theano_params.from_original(original_params(ref), config,
                                       template(model, config))
  b, t = len(ref["sid"]), config.seq_len
  cost = jax.jit(lambda p, batch, carried: steps.chunk_cost(model, p, batch, carried))
  masks = np.ones((2, 2, b, t), np.float32)  # [pass, chunk, B, T]: all kept, then some not
  masks[1, 0, 0, t // 2:] = masks[1, 1, 0] = 0  # row 0 ends half-way into chunk 0
  masks[1, 1, 1, t // 4:] = 0  # row 1 a quarter into chunk 1
  ref_nats = -np.stack([ref["logp0"], ref["logp1"]])  # [chunk, B, T]: the original's
  for mask in masks:
    carried = jax.tree.map(jnp.zeros_like, steps.initial_rnn_state(model, params, b))
    total = count = 0.0
    for i in range(2):
      batch = {"chunk": ref[f"chunk{i}"], "mask": mask[i], "sid": ref["sid"],
               "reset": np.full(b, i == 0)}
      bits, n, carried = cost(params, batch, carried)
      total, count = total + float(bits), count + float(n)
    assert count == mask.sum()
    want = float(ref["bits"]) if mask.all() else (ref_nats * mask).sum() / mask.sum() / np.log(2)
    assert abs(total / count - want) < F32_TOL, mask.all()


@pytest.mark.parametrize("case", CASES)
def test_quantisation_and_chunks(case):
  """quantize gives the original's levels of each case's clips exactly; prepare_clips and chunk
  give its two TBPTT chunks exactly (4 samples of Q_ZERO = 128 before the clip, chunks
  overlapping by the frame size), as do eval_batches, with reset on the first chunk only.
  Rules out chunks without the frame of overlap, another prefix level, and an evaluation that
  resets the state at every chunk."""
  ref = load_case(case)
  config = case_config(ref)
  np.testing.assert_array_equal(quantize.quantize(ref["wav"]), ref["q"])
  q, mask = data_lib.prepare_clips(np.asarray(ref["wav"], np.float64), config.seq_len,
                                   config.frame_size, "linear", 256)
  assert mask.all() and mask.shape == (2, 2 * config.seq_len)
  for i in range(2):
    c, m = data_lib.chunk(q, mask, i, config.seq_len, config.frame_size)
    np.testing.assert_array_equal(c, ref[f"chunk{i}"])
  # The evaluation's batches (what score.py and validation read) too.
  split = data_lib.Split("ref", ref["wav"], ref["sid"])
  batches = list(data_lib.eval_batches(split, 2, config.seq_len, config.frame_size,
                                       "linear", 256))
  assert len(batches) == 2
  for i, batch in enumerate(batches):
    np.testing.assert_array_equal(batch["chunk"], ref[f"chunk{i}"])
    np.testing.assert_array_equal(batch["reset"], [i == 0] * 2)
    assert batch["mask"].all()


def test_quantize_vectors():
  """Linear and mu-law quantisation of four clips (each min-max normalised; the last row sits
  exactly on level boundaries) equal the original's levels exactly. Rules out rounding where
  the original truncates, normalising over all rows at once, and the linear formula without
  its 5e-6 offset (8 boundary values move a level)."""
  with np.load(os.path.join(REF, "quantize.npz"), allow_pickle=False) as z:
    wav, linear, mulaw = z["wav"], z["linear"], z["mulaw"]
  np.testing.assert_array_equal(quantize.quantize(wav, "linear"), linear)
  np.testing.assert_array_equal(quantize.quantize(wav, "mu-law"), mulaw)


@pytest.mark.parametrize("case", CASES)
def test_parameter_mapping_round_trip(case):
  """For each case, from_original accepts the file (every original name has one of our
  parameters of the same shape, none left over; it raises otherwise) and to_original gives
  back exactly its names, dtypes and values. The case's model made three-tier (frame sizes
  (S, S / 2)) with a learned class embedding fed to the sample tier too, parts no case's file
  has, gets one name per parameter, under the tier prefixes BigFrameLevel then FrameLevel
  (the ICLR 2017 code's) and ClassEmbedding, and from_original of those names gives back its
  parameters. Rules out a parameter our model has and the original lacks (or the reverse),
  two of ours given one name (in the cases' models, and in a three-tier or conditioned
  one's: the two frame tiers under one prefix), and a kernel of transposed shape."""
  ref = load_case(case)
  config = case_config(ref)
  named = original_params(ref)
  model = config_lib.build_model(config)
  params = theano_params.from_original(named, config, template(model, config))
  back = theano_params.to_original(params, config)
  assert sorted(back) == sorted(named)
  for name, value in named.items():
    assert back[name].dtype == value.dtype, name
    np.testing.assert_array_equal(back[name], value, err_msg=name)
  # the branches no case's file takes: three tiers, a class embedding, conditioning
  # of the sample tier (shapes only: the names are what is checked)
  config.frame_sizes = (config.frame_size, config.frame_size // 2)
  config.cond_type, config.cond_emb_size, config.cond_sample_tier = "embedding", 3, True
  shapes = template(config_lib.build_model(config), config)
  leaves = jax.tree_util.tree_flatten_with_path(shapes)[0]
  paths = [tuple(k.key for k in path) for path, _ in leaves]
  names = [theano_params.original_name(p, config) for p in paths]
  assert len(set(names)) == len(names), sorted(n for n in names if names.count(n) > 1)
  assert {n.split(".")[0] for n in names} == {"BigFrameLevel", "FrameLevel", "SampleLevel",
                                              "ClassEmbedding"}
  assert "SampleLevel.Cond.W0" in names and "FrameLevel.InputExpand.W0" in names
  filled = {n: np.full(leaf.shape, i, np.float32) for i, (n, (_, leaf)) in
            enumerate(zip(names, leaves))}  # each array its own value
  again = theano_params.from_original(filled, config, shapes)
  for p, n, (_, leaf) in zip(paths, names, jax.tree_util.tree_flatten_with_path(again)[0]):
    np.testing.assert_array_equal(leaf, filled[n], err_msg="/".join(p))


@pytest.mark.parametrize("case", CASES)
def test_sampler_forced_along_q_gives_reference_log_probs(case):
  """Teacher forcing through the sampling code path (one scan step per sample)
  gives the original's per-sample log-probabilities of both chunks."""
  from samplernn_jax import sampling
  ref = load_case(case)
  config = case_config(ref)
  model = config_lib.build_model(config)
  params = theano_params.from_original(original_params(ref), config,
                                       template(model, config))
  class_vec = jax.nn.one_hot(ref["sid"], config.n_classes)
  q = ref["q"]
  drawn, logp = sampling.generate(model, params, class_vec, q.shape[1], jax.random.key(0),
                                  forced=q, block_samples=config.seq_len)
  np.testing.assert_array_equal(drawn, q)
  expected = np.concatenate([ref["logp0"], ref["logp1"]], axis=1)
  np.testing.assert_allclose(logp, expected, atol=F32_TOL, rtol=0)
