"""The model (samplernn_jax/layers.py, model.py): cells, scan, TBPTT, size, init."""
import dataclasses
import functools
import math
import os

import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np
import pytest

from conftest import REPO, load_config_file, perturbed
from samplernn_jax import config as config_lib
from samplernn_jax import gru, layers, steps, trainer
from samplernn_jax.model import FrameTier, SampleRNN, log_probs

F32 = jnp.float32


def effective(p):
  """A WNDense's weight from its parameters, computed here: V * g / ||V||."""
  k = np.asarray(p["kernel"], np.float64)
  if "scale" in p:
    k = k * (np.asarray(p["scale"]) / np.linalg.norm(k, axis=0))
  return k


def init(model, seed, seq_len):
  """Parameters of a model, initialised under jit (eager init is slow)."""
  return jax.jit(lambda k: steps.init_params(model, k, seq_len))(jax.random.key(seed))


def sigmoid(x):
  return 1 / (1 + np.exp(-x))


# ---------------------------------------------------------------------------
# cells and the scanned layer


def test_gru_step_is_the_spec_formula():
  """z, r = s(x_zr + h W_zr); c = tanh(x_c + (r * h) W_c); h' = z c + (1 - z) h."""
  rng = np.random.default_rng(0)
  b, n = 3, 5
  wg, wc = rng.standard_normal((n, 2 * n)), rng.standard_normal((n, n))
  xp, h = rng.standard_normal((b, 3 * n)), rng.standard_normal((b, n))
  got = gru.gru_step(jnp.asarray(wg, F32), jnp.asarray(wc, F32), jnp.asarray(xp, F32),
                        jnp.asarray(h, F32), F32)
  zr = sigmoid(xp[:, :2 * n] + h @ wg)
  z, r = zr[:, :n], zr[:, n:]
  c = np.tanh(xp[:, 2 * n:] + (r * h) @ wc)
  np.testing.assert_allclose(got, z * c + (1 - z) * h, atol=1e-5)  # float32 matmuls


def test_lstm_forget_gate_bias_starts_at_3():
  """An LSTM layer's gate bias starts at 3 for the forget gate and 0 for
  the input, output and candidate gates (layers.RNNLayer; the gate order of
  lstm_step). Rules out another value (the layers.py sweep's 3 -> 6 went
  unseen) or the 3 on another gate."""
  h = 8
  layer = layers.RNNLayer(h, rnn_type="LSTM")
  params = layer.init(jax.random.key(0), jnp.zeros((1, 2, 5)), jnp.zeros((1, 2 * h)))
  want = np.zeros(4 * h)
  want[h:2 * h] = 3.0
  np.testing.assert_array_equal(params["params"]["bias"], want)


def test_lstm_step_is_the_textbook_cell():
  """Gates in the order input, forget, output, candidate; state = [h, c]."""
  rng = np.random.default_rng(1)
  b, n = 3, 4
  w, xp = rng.standard_normal((n, 4 * n)), rng.standard_normal((b, 4 * n))
  h, c = rng.standard_normal((b, n)), rng.standard_normal((b, n))
  got = layers.lstm_step(jnp.asarray(w, F32), jnp.asarray(xp, F32),
                         jnp.asarray(np.concatenate([h, c], 1), F32), F32)
  g = xp + h @ w
  i, f, o = sigmoid(g[:, :n]), sigmoid(g[:, n:2 * n]), sigmoid(g[:, 2 * n:3 * n])
  c2 = f * c + i * np.tanh(g[:, 3 * n:])
  np.testing.assert_allclose(got, np.concatenate([o * np.tanh(c2), c2], 1), atol=1e-5)


@pytest.mark.parametrize("rnn_type", ["GRU", "LSTM"])
@pytest.mark.parametrize("weight_norm", [True, False])
def test_scanned_layer_equals_python_loop(rnn_type, weight_norm):
  """RNNLayer (the cell under jax.lax.scan, weights through weight norm)
  equals the cell stepped frame by frame in a Python loop with the
  effective weights V g / ||V|| and the input bias computed here, to 1e-6.
  The parameters get N(0, 0.1) noise first: at initialisation each scale
  equals its column's norm and the GRU's input bias is zero, so a layer
  that ignored either would agree. Rules out the scale or the input bias
  left out, a scan that carries the wrong state or reorders the frames, and
  the last state taken from another frame than the last."""
  b, f, i, n = 3, 11, 5, 8
  layer = layers.RNNLayer(n, rnn_type, weight_norm=weight_norm)
  d = n if rnn_type == "GRU" else 2 * n
  k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(k1, (b, f, i))
  s0 = 0.5 * jax.random.normal(k2, (b, d))
  params = perturbed(jax.jit(layer.init)(k3, x, s0)["params"])
  if rnn_type == "LSTM":  # make the non-zero bias (forget gate 3) matter differently per unit
    params = dict(params, bias=params["bias"] + 0.1 * jnp.arange(4 * n))
  hs, last = jax.jit(layer.apply)({"params": params}, x, s0)

  # the same cell stepped frame by frame, weights taken from the parameters here
  w_in = jnp.asarray(effective(params["input"]), F32)
  xp = x @ w_in + (params["input"]["bias"] if rnn_type == "GRU" else params["bias"])
  w_g = jnp.asarray(effective(params["recurrent_gates"]), F32)
  if rnn_type == "GRU":
    w_c = jnp.asarray(effective(params["recurrent_candidate"]), F32)
    cell = jax.jit(lambda xp_t, s: gru.gru_step(w_g, w_c, xp_t, s, F32))
  else:
    cell = jax.jit(lambda xp_t, s: layers.lstm_step(w_g, xp_t, s, F32))
  s, outs = s0, []
  for t in range(f):  # a Python loop: one jitted cell call per frame
    s = cell(xp[:, t], s)
    outs.append(s[:, :n])
  assert hs.shape == (b, f, n) and last.shape == (b, d)
  # float32, 11 steps of size-8 matmuls: agreement to 1e-6 (measured ~1e-7)
  np.testing.assert_allclose(hs, jnp.stack(outs, 1), atol=1e-6, rtol=0)
  np.testing.assert_allclose(last, s, atol=1e-6, rtol=0)


@pytest.mark.parametrize("skip_conn", [False, True])
def test_a_lower_frame_tier_is_its_layers_written_out(skip_conn):
  """A frame tier below the top (three-tier models) computes, from its
  perturbed parameters: the frame through ``input_expand`` plus the upper
  tier's vector, two GRU layers (the second fed the first's output, with
  skip connections also the tier's input) from the given states, and the
  output layer of the last layer's output (or of the skips' sum, only the
  first skip with a bias), cut into ``ratio`` vectors a frame; to 1e-5 in
  float32. The RNN layers run as ``RNNLayer`` (tested against a Python loop
  above); the rest is written out here. Rules out the upper vector
  subtracted or left out, the layers fed the wrong input, the state of
  another layer, and the output's vectors in another order."""
  b, f, s, d, ratio = 2, 5, 4, 8, 2
  tier = FrameTier(ratio=ratio, dim=d, n_rnn=2, rnn_type="GRU", skip_conn=skip_conn,
                   weight_norm=True, learn_h0=True, is_top=False)
  k = jax.random.split(jax.random.key(0), 4)
  x, upper = jax.random.normal(k[0], (b, f, s)), jax.random.normal(k[1], (b, f, d))
  h = 0.5 * jax.random.normal(k[2], (b, 2, d))
  params = perturbed(tier.init(k[3], x, upper, h)["params"])
  got, last = tier.apply({"params": params}, x, upper, h)

  def dense(p, v, bias=True):
    y = v @ jnp.asarray(effective(p), F32)
    return y + p["bias"] if bias else y
  inp = dense(params["input_expand"], x) + upper
  out, states, skips = inp, [], 0.0
  for l in range(2):
    layer_in = inp if l == 0 else (jnp.concatenate([out, inp], -1) if skip_conn else out)
    out, st = layers.RNNLayer(d, "GRU", weight_norm=True).apply(
        {"params": params[f"rnn{l}"]}, layer_in, h[:, l])
    states.append(st)
    if skip_conn:
      skips = skips + dense(params[f"skip{l}"], out, bias=(l == 0))
  want = dense(params["output"], skips if skip_conn else out).reshape(b, f * ratio, d)
  np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
  np.testing.assert_allclose(last, jnp.stack(states, 1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype, tol", [(jnp.float32, 1e-6), (jnp.bfloat16, 1e-3)])
@pytest.mark.parametrize("unroll", [1, 3])
def test_gru_scan_gradient_is_autodiffs(dtype, tol, unroll):
  """gru.gru_scan's written-out gradient equals autodiff's of the same
  forward (gru.scan_steps) for the recurrent weights, the input projection
  and the initial state, with cotangents on every state and on the last
  one, over 7 frames: the forwards (differentiated or not) to the bit, the gradients within ``tol``
  of each one's largest entry (float32: summation order, measured ~2e-7;
  bfloat16: the same bf16 products, measured ~9e-8; 1e-3 lets a cotangent
  round to the other bf16 neighbour, as ~0.4 % of one entry), unrolled or
  not (3 does not divide 7). Rules out a missing path (through r h into the
  candidate, or the state's direct (1 - z) term), a wrong gate derivative,
  frames reversed, the last state's cotangent ignored and transposed weight
  gradients."""
  f, b, n = 7, 3, 8
  k = jax.random.split(jax.random.key(0), 6)
  w_g = 0.4 * jax.random.normal(k[0], (n, 2 * n))
  w_c = 0.4 * jax.random.normal(k[1], (n, n))
  xp = jax.random.normal(k[2], (f, b, 3 * n))
  h0 = 0.5 * jax.random.normal(k[3], (b, n))
  d_hs, d_last = jax.random.normal(k[4], (f, b, n)), jax.random.normal(k[5], (b, n))
  dt = jnp.dtype(dtype)
  got, vjp = jax.vjp(lambda *a: gru.gru_scan(*a, dt, unroll), w_g, w_c, xp, h0)
  want, vjp_ref = jax.vjp(lambda *a: gru.scan_steps(*a, dt, unroll), w_g, w_c, xp, h0)
  # under differentiation and not (the primal runs another code path)
  for a, c in zip(got + gru.gru_scan(w_g, w_c, xp, h0, dt, unroll), want + want):
    np.testing.assert_array_equal(a, c)
  for name, a, c in zip(("w_gates", "w_cand", "xp", "h0"), vjp((d_hs, d_last)),
                        vjp_ref((d_hs, d_last))):
    assert a.dtype == c.dtype == jnp.float32, name
    np.testing.assert_allclose(a, c, rtol=0, atol=tol * float(jnp.abs(c).max()), err_msg=name)


@pytest.mark.parametrize("dtype, carried", [(jnp.float32, ["float32"]),
                                             (jnp.bfloat16, ["float32", "bfloat16"])])
@pytest.mark.parametrize("differentiated", [False, True])
def test_gru_scan_carries_the_state_cast_for_its_matmul(dtype, carried, differentiated):
  """Below float32 gru.gru_scan's loop carries the new state twice, float32
  and cast to ``dtype`` (the next frame's matmul operand), so the cast is
  made where the state is: at the start of the next frame it would be a
  kernel of its own on a GPU, one per frame and layer (compiled for an
  H200, paper model, batch 1024, rnn_unroll 1: 3144 -> 2952 kernels a
  step). In float32 the state is carried once. Rules out the cast moved back
  to the loop's head, and a float32 loop carrying a copy of its state."""
  from conftest import nested_eqns
  f, b, n = 4, 2, 8
  w_g, w_c = jnp.ones((n, 2 * n)), jnp.ones((n, n))
  xp, h0 = jnp.ones((f, b, 3 * n)), jnp.zeros((b, n))
  dt = jnp.dtype(dtype)
  fn = lambda *a: gru.gru_scan(*a, dt)
  if differentiated:
    fn = lambda *a: jax.vjp(lambda *a: gru.gru_scan(*a, dt), *a)[0]
  jaxpr = jax.make_jaxpr(fn)(w_g, w_c, xp, h0).jaxpr
  scans = [e for e in nested_eqns(jaxpr) if e.primitive.name == "scan"
           and e.params["jaxpr"].in_avals[e.params["num_consts"]].shape == (b, n)]
  assert len(scans) == 1
  scan = scans[0]
  carry = scan.params["jaxpr"].in_avals[scan.params["num_consts"]:][:scan.params["num_carry"]]
  assert [str(a.dtype) for a in carry] == carried
  assert all(a.shape == (b, n) for a in carry)


@pytest.mark.parametrize("field, value", [("rnn_type", "gru"), ("sample_input", "embeding"),
                                          ("cond_type", "embeding"), ("l1_impl", "tabel")])
def test_a_misspelt_model_option_is_an_error_naming_it(field, value):
  """SampleRNN built by hand (no config.validate) with a misspelt string
  option: a ValueError naming the field and the accepted values. Rules out
  the silent fall-through each one had ('gru' built an LSTM, 'embeding' a
  real-valued input or a one-hot conditioning, 'tabel' the look-up form)."""
  model = SampleRNN(frame_sizes=(8,), dim=8, n_rnn=1, q_levels=16, emb_size=4,
                    n_classes=2, **{field: value})
  with pytest.raises(ValueError, match=rf"SampleRNN\.{field}='{value}': expected one of"):
    steps.init_params(model, jax.random.key(0), 16)
  with pytest.raises(ValueError, match=r"RNNLayer\.rnn_type='gru'"):
    layers.RNNLayer(4, "gru").init(jax.random.key(0), jnp.zeros((1, 2, 3)), jnp.zeros((1, 4)))


def test_frames_of_another_size_than_the_tiers_are_an_error():
  """A frame tier or the sample tier given frames wider than its frame size
  (e.g. a sampler buffer sliced wrongly) raises, naming the tier, instead of
  running on parameters made for another width. Rules out the unchecked
  frame sizes of the hand-built modules."""
  model = SampleRNN(frame_sizes=(8, 2), dim=8, n_rnn=1, q_levels=16, emb_size=4, n_classes=2)
  params = steps.init_params(model, jax.random.key(0), 16)
  v = {"params": params}
  cond = jnp.zeros((1, 2))
  h = model.apply(v, 1, method=SampleRNN.initial_state)
  with pytest.raises(ValueError, match=r"SampleRNN.tier\(0\): frames of 4 samples; "
                     r"frame_sizes\[0\] is 8"):
    model.apply(v, 0, jnp.zeros((1, 1, 4), jnp.int32), None, cond, h[0], method=SampleRNN.tier)
  with pytest.raises(ValueError, match="SampleTier: 3 previous samples a step; its frame_size is 2"):
    model.apply(v, jnp.zeros((1, 1, 3), jnp.int32), jnp.zeros((1, 1, 8)), cond,
                method=SampleRNN.sample_logits)


def test_rnn_unroll_keeps_the_function():
  """config.rnn_unroll (frame steps per iteration of each RNN layer's scan)
  changes the compiled loop, not the function: a GRU layer over 7 frames
  with unroll 3 (not a divisor: a remainder) gives the states of unroll 1
  to the bit and the gradients (parameters and input) within 1e-6 of their
  largest entry (the weight gradients are summed over the frames in another
  order; measured on the CPU: after one Adam step of the tiny config the
  parameters differ by at most 2.4e-10); and the setting reaches every scan
  of a model built from the config, GRU or LSTM, forward and backward (the
  jaxpr of its gradient: per layer a forward scan and a reverse one). Rules
  out an unroll that is not passed down to the layers (the LSTM's scan
  included) or to the GRU's written-out backward loop, or one that drops
  or repeats the remainder's steps."""
  from conftest import nested_eqns
  b, f, i, n = 3, 7, 5, 8
  x = jax.random.normal(jax.random.key(1), (b, f, i))
  s0 = 0.5 * jax.random.normal(jax.random.key(2), (b, n))
  params = layers.RNNLayer(n).init(jax.random.key(3), x, s0)["params"]
  out = []
  for unroll in (1, 3):
    layer = layers.RNNLayer(n, unroll=unroll)

    def loss(p, x):
      hs, last = layer.apply({"params": p}, x, s0)
      return jnp.sum(hs ** 2), (hs, last)
    (_, states), grads = jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True))(params, x)
    out.append((jax.tree.leaves(states), jax.tree.leaves(grads)))
  for a, c in zip(out[0][0], out[1][0]):
    np.testing.assert_array_equal(a, c)
  for a, c in zip(out[0][1], out[1][1]):
    np.testing.assert_allclose(a, c, rtol=0, atol=1e-6 * np.abs(a).max())
  for rnn_type in ("GRU", "LSTM"):
    config = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
    config.n_classes, config.rnn_unroll, config.rnn_type = 3, 3, rnn_type
    model = config_lib.build_model(config)
    chunk = jnp.zeros((2, config.seq_len + config.frame_size), jnp.int32)
    shapes = jax.eval_shape(lambda k: steps.init_params(model, k, config.seq_len),
                            jax.random.key(0))

    def logit_sum(p):
      return model.apply({"params": p}, chunk, CLASSES,
                         steps.initial_rnn_state(model, p, 2))[0].sum()
    jaxpr = jax.make_jaxpr(jax.grad(logit_sum))(shapes).jaxpr
    scans = [(e.params["reverse"], e.params["unroll"]) for e in nested_eqns(jaxpr)
             if e.primitive.name == "scan"]
    assert sorted(scans) == [(False, 3)] * config.n_rnn + [(True, 3)] * config.n_rnn, \
        (rnn_type, scans)


# ---------------------------------------------------------------------------
# the whole model: TBPTT chunks with carried state equal one long chunk


MODELS = {
    "paper_2tier_gru": dict(frame_sizes=(16,)),
    "3tier_lstm_skip": dict(frame_sizes=(8, 2), rnn_type="LSTM", skip_conn=True,
                            n_rnn=2),
    "one_hot_input_cond_emb": dict(frame_sizes=(4,), emb_size=0, sample_input="one_hot",
                                   cond_type="embedding", cond_emb_size=3,
                                   cond_sample_tier=True),
    "real_input_no_wn": dict(frame_sizes=(16,), sample_input="real", weight_norm=False,
                             learn_h0=False),
}
T, B = 64, 2  # targets a chunk, batch


@functools.lru_cache(maxsize=None)
def variant(name):
  """(model, params, jitted apply) of a small model; built once per session."""
  kw = dict(dim=16, n_rnn=1, q_levels=256, emb_size=8, n_classes=3)
  kw.update(MODELS[name])
  model = SampleRNN(**kw)
  apply = jax.jit(lambda p, c, cls, h: model.apply({"params": p}, c, cls, h))
  return model, init(model, 2, T), apply


lp_fn = jax.jit(log_probs)
CLASSES = jax.nn.one_hot(jnp.array([0, 2]), 3)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_two_chunks_with_carried_state_equal_one_long_chunk(name):
  """Truncated BPTT's premise: a sequence run as two chunks (overlapping by
  the top frame), the second started from the first's last state, gives the
  log-probs and last state of one run over it all, to 1e-5 (float32, the same
  operations grouped otherwise), from a non-zero start state; the second
  chunk from the start state instead differs by more than 1e-3. Rules out a
  last state taken from the wrong frame or tier, a tier restarting from h0
  inside a chunk, and a state that is not carried at all."""
  model, params, jitted = variant(name)
  apply = lambda c, h: jitted(params, c, CLASSES, h)
  top = model.frame_sizes[0]
  seq = jax.random.randint(jax.random.key(1), (B, top + 2 * T), 0, 256)
  h0 = steps.initial_rnn_state(model, params, B)
  # a non-zero start state, so that carrying the wrong state shows
  h0 = tuple(0.3 * jax.random.normal(jax.random.key(3 + k), h.shape) for k, h in enumerate(h0))

  long_logits, long_h = apply(seq, h0)
  first, second = seq[:, :top + T], seq[:, T:]  # chunks overlap by the top frame size
  l1, h1 = apply(first, h0)
  l2, h2 = apply(second, h1)
  lp_long = lp_fn(long_logits, seq[:, top:])
  lp_two = jnp.concatenate([lp_fn(l1, first[:, top:]), lp_fn(l2, second[:, top:])], 1)
  assert lp_long.shape == (B, 2 * T)
  # float32, same operations in a different grouping: 1e-5 (measured ~1e-6)
  np.testing.assert_allclose(lp_two, lp_long, atol=1e-5, rtol=0)
  for a, c in zip(h2, long_h):
    np.testing.assert_allclose(a, c, atol=1e-5, rtol=0)
  # and the state matters: the second chunk from h0 gives other log-probs
  l2_fresh, _ = apply(second, h0)
  assert np.abs(lp_fn(l2_fresh, second[:, top:]) - lp_long[:, T:]).max() > 1e-3


@pytest.mark.parametrize("name", sorted(MODELS))
def test_future_samples_do_not_change_log_probs(name):
  """Causality: the log-prob of target j depends only on the samples before it."""
  model, params, jitted = variant(name)
  top = model.frame_sizes[0]
  seq = jax.random.randint(jax.random.key(1), (B, top + 2 * T), 0, 256)
  h0 = steps.initial_rnn_state(model, params, B)
  lp = lambda s: lp_fn(jitted(params, s, CLASSES, h0)[0], s[:, top:])
  base = lp(seq)
  j = 37  # inside a frame of every tier (not a multiple of 16, 8, 4 or 2)
  changed = seq.at[:, top + j:].set((seq[:, top + j:] + 77) % 256)
  after = lp(changed)
  # targets before j keep their log-probs exactly (float32: 1e-6); target j
  # itself changed value, and later ones see the change
  np.testing.assert_allclose(after[:, :j], base[:, :j], atol=1e-6, rtol=0)
  assert np.abs(after[:, j + 1:] - base[:, j + 1:]).max() > 1e-3


# ---------------------------------------------------------------------------
# size and initialisation


def paper_config():
  return load_config_file(os.path.join(REPO, "configs", "dcase2016.py"))


def test_paper_parameter_count():
  """docs/paper.md: 39 289 344, and the per-part counts it lists."""
  config = paper_config()
  assert trainer.param_count(config, 15) == 39289344
  model = config_lib.build_model(config, 15)
  shapes = steps.abstract_params(model, 1024)
  count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))
  tier = shapes["tier0"]
  assert count([tier[f"rnn{l}"] for l in range(3)]) == 15851520
  assert count(tier["h0"]) == 3072
  assert count(tier["output"]) == 16809984
  assert count(shapes["sample_tier"]["embedding"]) == 65536
  st = shapes["sample_tier"]
  assert count([st[k] for k in ("prev_samples", "hidden1", "hidden2", "output")]) == 6559232


def test_a_model_built_without_arguments_is_the_papers():
  """``SampleRNN()`` with no arguments (a library user's first model) has the
  paper's function: every field that shapes it equals the paper config's
  model (configs/dcase2016.py, 15 classes), and the speed-only fields are
  their plain forms (the matmul first layer, XLA's GRU loop unrolled once,
  float32, hidden1 not folded). Rules out a default changed by hand (a
  width, layer count, level count, class count or conditioning flag) that
  the configs, which pass every field, would never show."""
  paper = config_lib.build_model(paper_config(), 15)
  plain = SampleRNN()
  speed = {"l1_impl": "matmul", "rnn_unroll": 1, "rnn_kernel": "xla",
           "dtype": jnp.float32, "fold_hidden1": False}
  shaping = [f.name for f in dataclasses.fields(SampleRNN)
             if f.name not in ("parent", "name") and f.name not in speed]
  assert len(shaping) >= 14
  assert {k: getattr(plain, k) for k in shaping} == {k: getattr(paper, k) for k in shaping}
  assert {k: getattr(plain, k) for k in speed} == speed


class _OneDense(nn.Module):
  """A WNDense inside a module (WNDense.init is shadowed, see the next test)."""

  @nn.compact
  def __call__(self, x):
    return layers.WNDense(7, name="dense")(x)


def test_uniform_inits_have_the_originals_bounds_and_spread():
  """layers.lecun_uniform and he_uniform draw U(-b, b), b = sqrt(3) std,
  std = sqrt(1 / fan_in) and sqrt(2 / fan_in) with fan_in the kernel's first
  axis (the original's initialisers, docs/paper.md): on a [200, 800] kernel the
  draws stay within b, come within 1 % of it, and their std is within 2 %
  of the formula's (160 000 draws: 0.2 % expected). Rules out fan-out for
  fan-in, a bound of std (no sqrt 3) or of 2 std, and the gains swapped."""
  shape = (200, 800)
  for init, gain in ((layers.lecun_uniform, 1.0), (layers.he_uniform, 2.0)):
    w = np.asarray(init(jax.random.key(0), shape))
    std = (gain / shape[0]) ** 0.5
    assert w.shape == shape and std * 3 ** 0.5 * 0.99 < np.abs(w).max() <= std * 3 ** 0.5
    np.testing.assert_allclose(w.std(), std, rtol=0.02)


def test_default_init_is_orthogonal_when_square_else_lecun():
  """A WNDense's default kernel is orthogonal when square (K^T K = I) and
  LeCun uniform otherwise (within sqrt(3 / fan_in)), as the original's
  default. Rules out the two swapped, or either form for both."""
  x = jnp.ones((1, 64))
  for n_out in (64, 96):
    k = np.asarray(layers.WNDense(n_out).init(jax.random.key(1), x)["params"]["kernel"])
    is_orthogonal = np.allclose(k.T @ k, np.eye(n_out), atol=1e-5)
    assert is_orthogonal == (n_out == 64), n_out
    if n_out != 64:
      assert np.abs(k).max() <= (3 / 64) ** 0.5


def initialiser_of(kernel) -> str:
  """'orthogonal', 'he' or 'lecun': which of the original's initialisers a
  kernel [fan_in, fan_out] looks drawn from (K^T K = I; else the spread
  against LeCun's sqrt(1 / fan_in): 1 for LeCun, sqrt(2) for He, told apart
  at 1.2, over 4 standard errors from either with at least 96 draws)."""
  k = np.asarray(kernel, np.float64)
  if k.shape[0] == k.shape[1] and np.allclose(k.T @ k, np.eye(k.shape[1]), atol=1e-5):
    return "orthogonal"
  ratio = k.std() / (1 / k.shape[0]) ** 0.5
  kind = "lecun" if ratio < 1.2 else "he"
  bound = (3 * (1 if kind == "lecun" else 2) / k.shape[0]) ** 0.5
  assert np.abs(k).max() <= bound * (1 + 1e-6), (kind, np.abs(k).max(), bound)
  return kind


def expected_initialiser(path: str, shape, sample_input: str) -> str:
  """The original's initialiser of a kernel by its place (docs/paper.md): the
  GRU candidate's recurrent weight orthogonal; He for each frame tier's
  output and the sample tier's first three Linears (prev_samples only when
  it takes the embedding: one-hot or real input is this project's own, LeCun);
  LeCun for the others, orthogonal where square."""
  if "recurrent_candidate" in path:
    return "orthogonal"
  if ("tier" in path and "sample_tier" not in path and "'output'" in path) or \
      any(f"'{n}'" in path for n in ("hidden1", "hidden2")):
    return "he"
  if "prev_samples" in path:
    return "he" if sample_input == "embedding" else "lecun"
  return "orthogonal" if shape[0] == shape[1] else "lecun"


@pytest.mark.parametrize("sample_input", ["embedding", "one_hot"])
def test_each_layer_starts_from_the_originals_initialiser(sample_input):
  """Every kernel of a model (three tiers, two GRU layers with skips, the
  class embedding fed to the sample tier too; width 48 so that the skips and
  hidden layers are square) is drawn from the original's initialiser for its
  place, told apart by orthogonality and by its spread against LeCun's
  (``initialiser_of``), within that initialiser's bound; the sample
  embedding is N(0, 1) (2 048 draws: std within 10 %), and so is the class
  embedding (15 x 16 draws: within 20 %, 4 standard errors); every bias but the
  LSTM's (none here) and every h0 start at zero. Rules out He and LeCun
  swapped at the sample tier's first Linear or chosen by the wrong input
  kind, the frame output or a hidden layer left at the default, and a
  square He layer made orthogonal."""
  kw = dict(emb_size=8) if sample_input == "embedding" else dict(emb_size=0)
  model = SampleRNN(dim=48, n_rnn=2, q_levels=256, n_classes=15, frame_sizes=(8, 2),
                    skip_conn=True, sample_input=sample_input, cond_type="embedding",
                    cond_emb_size=16, cond_sample_tier=True, **kw)
  params = init(model, 0, 64)
  kinds = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    name = jax.tree_util.keystr(path)
    if path[-1].key == "kernel":
      kinds[name] = (initialiser_of(leaf), expected_initialiser(name, leaf.shape, sample_input))
    elif path[-1].key in ("bias", "h0", "hidden1_bias"):
      assert not np.asarray(leaf).any(), name
  assert len(kinds) >= 20 and {k for k, _ in kinds.values()} == {"orthogonal", "he", "lecun"}
  assert {n: k for n, (k, _) in kinds.items()} == {n: e for n, (_, e) in kinds.items()}
  if sample_input == "embedding":
    np.testing.assert_allclose(np.asarray(params["sample_tier"]["embedding"]).std(), 1.0,
                               rtol=0.1)
  np.testing.assert_allclose(np.asarray(params["class_embedding"]).std(), 1.0, rtol=0.2)


def test_weight_norm_starts_at_the_kernel():
  """A weight-normed Linear starts with its scale at the kernel's column
  norms, so its weight is the kernel (1e-6); with another scale the output
  is x @ (kernel * scale / ||kernel||), each column's norm the scale. Rules
  out a norm over the whole kernel or its rows, and a scale that is stored
  but not applied."""
  x = jax.random.normal(jax.random.key(0), (4, 5))
  p = _OneDense().init(jax.random.key(1), x)["params"]["dense"]
  np.testing.assert_allclose(p["scale"], np.linalg.norm(p["kernel"], axis=0), rtol=1e-6)
  np.testing.assert_allclose(effective(p), p["kernel"], atol=1e-6)
  out = lambda q: _OneDense().apply({"params": {"dense": q}}, x)
  np.testing.assert_allclose(out(p), x @ p["kernel"], atol=1e-5)  # float32
  # the normalisation is live: the weight is kernel * scale / ||kernel||
  scale = jnp.arange(1.0, 8.0)
  w2 = p["kernel"] * scale / np.linalg.norm(p["kernel"], axis=0)
  np.testing.assert_allclose(out(dict(p, scale=scale)), x @ w2, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(w2, axis=0), scale, rtol=1e-5)


def test_wndense_initialises_on_its_own():
  """`WNDense(7).init(key, x)` must work like any linen module's init.

  Its dataclass field ``init`` (the initialiser's name) shadows
  ``nn.Module.init``, so this raises "TypeError: 'str' object is not callable".
  """
  dense = layers.WNDense(7)
  x = jnp.ones((2, 5))
  p = dense.init(jax.random.key(0), x)["params"]
  assert p["kernel"].shape == (5, 7)
  w, _ = dense.apply({"params": p}, 5, method=layers.WNDense.weights)
  np.testing.assert_allclose(w, p["kernel"], atol=1e-6)


@pytest.mark.parametrize("name", [n for n in sorted(MODELS) if "no_wn" not in n])
def test_every_scale_of_the_model_starts_at_its_kernel_norms(name):
  """In each weight-normed model every Linear (GRU and LSTM kernels, skips,
  outputs; not the embeddings) has a scale, and it starts at its kernel's
  column norms. Rules out a layer built without weight norm while the config
  asks for it, and a scale initialised to ones (a first step on other
  weights than the initialiser's)."""
  _, params, _ = variant(name)
  found = 0
  for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    if path[-1].key == "scale":
      node = params
      for k in path[:-1]:
        node = node[k.key]
      np.testing.assert_allclose(leaf, np.linalg.norm(node["kernel"], axis=0), rtol=1e-6)
      found += 1
  kernels = sum(1 for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]
                if path[-1].key == "kernel")
  assert found == kernels >= 8  # every Linear is weight-normed (embeddings are not)


def test_initial_cost_on_random_data_is_about_8_bits():
  """Uniformly random targets cost log2(256) = 8 bits under a uniform model.

  Measured at init (seeds 0-1, dims 16-1024): 9.0 - 9.85 bits; 9.71 for
  the model and batch here. The logits start with a std of ~1.4
  (He-initialised ReLU MLP, LeCun output layer), which adds about
  std^2 / 2 nats = 1.4 bits to the 8. The bounds [8, 10.5] catch a broken
  initial scale, or a cost in nats (it would read ~6.7).
  """
  c = config_lib.base_config()
  c.dim, c.n_rnn, c.emb_size, c.seq_len = 64, 2, 16, 64
  model = config_lib.build_model(c, 4)
  params = init(model, 0, 64)
  rng = np.random.default_rng(0)
  batch = {"chunk": jnp.asarray(rng.integers(0, 256, (4, 80)), jnp.int32),
           "mask": jnp.ones((4, 64)), "sid": jnp.asarray([0, 1, 2, 3]),
           "reset": jnp.ones(4, bool)}
  h = steps.initial_rnn_state(model, params, 4)
  bits, count, _ = jax.jit(lambda p, b, h: steps.chunk_cost(model, p, b, h))(params, batch, h)
  assert count == 4 * 64
  assert 8.0 <= float(bits / count) <= 10.5


def test_cost_is_masked_mean_in_bits():
  """``steps.chunk_cost`` returns the summed cost in bits of the unmasked
  targets (42 of 2 x 32: one row masked after 10) and their count, equal to
  the float64 log-softmax cross-entropy of the model's own logits to 1e-5.
  Rules out the cost in nats, masked targets counted, the targets off by one
  sample from the logits, and the count of all targets."""
  model = SampleRNN(frame_sizes=(16,), dim=16, n_rnn=1, emb_size=8, n_classes=2)
  params = init(model, 0, 32)
  rng = np.random.default_rng(0)
  chunk = jnp.asarray(rng.integers(0, 256, (2, 48)), jnp.int32)
  mask = np.ones((2, 32), np.float32)
  mask[1, 10:] = 0
  batch = {"chunk": chunk, "mask": jnp.asarray(mask), "sid": jnp.array([0, 1]),
           "reset": jnp.ones(2, bool)}
  h = steps.initial_rnn_state(model, params, 2)

  @jax.jit
  def run(params, batch, h):
    cost = steps.chunk_cost(model, params, batch, h)
    logits, _ = model.apply({"params": params}, batch["chunk"],
                            jax.nn.one_hot(batch["sid"], 2), h)
    return cost, logits

  (bits, count, _), logits = run(params, batch, h)
  z = np.asarray(logits, np.float64)
  lp = z - z.max(-1, keepdims=True)
  lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))  # log-softmax in float64
  tgt = np.asarray(chunk[:, 16:])
  nats = -np.take_along_axis(lp, tgt[..., None], -1)[..., 0]
  assert count == 42
  np.testing.assert_allclose(bits, (nats * mask).sum() / math.log(2), rtol=1e-5)


def test_log_probs_and_their_gradient_equal_float64_log_softmax():
  """model.log_probs (custom VJP: g one_hot - g softmax) against float64
  numpy: the values within 1e-5 and the gradient of sum(w * log_probs) for
  random weights w within 1e-5 (the float32 rounding of a log-sum-exp near
  60 is 4e-6, and autodiff of a log-softmax has the same), over logits of
  spread 20 (a stable log-sum-exp is needed) and targets that include level
  0 and Q-1. Rules out
  a gradient with the one-hot on the wrong level or axis, a missing softmax
  term, a sign error, an unweighted (g-free) gradient, and an overflowing
  exp."""
  r = np.random.default_rng(0)
  logits = r.normal(scale=20.0, size=(3, 7, 11)).astype(np.float32)
  targets = r.integers(0, 11, size=(3, 7)).astype(np.int32)
  targets[0, :2] = [0, 10]
  w = r.normal(size=(3, 7)).astype(np.float32)
  lp, grad = jax.value_and_grad(lambda z: (w * log_probs(z, targets)).sum())(logits)
  z = logits.astype(np.float64)
  lse = z.max(-1) + np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1))
  ref_lp = np.take_along_axis(z, targets[..., None], -1)[..., 0] - lse
  ref_grad = w[..., None] * (np.eye(11)[targets] - np.exp(z - lse[..., None]))
  np.testing.assert_allclose(np.asarray(log_probs(logits, targets)), ref_lp, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(float(lp), (w * ref_lp).sum(), rtol=1e-5)
  np.testing.assert_allclose(np.asarray(grad), ref_grad, atol=1e-5)


def test_log_probs_gradient_is_autodiffs_to_the_bit():
  """model.log_probs' written-out gradient equals autodiff of
  jax.nn.log_softmax then a take (the form before 2026-11-30) exactly, jitted
  on this CPU, forward and backward: so a run trains the same parameters as
  before the change (the demo's reproduction by configs/default.py rests on
  it). Rules out a reassociated formula (g * (one_hot - softmax) differs in
  the last bit, and training drifts from there)."""
  r = np.random.default_rng(2)
  z = jnp.asarray(r.normal(scale=3.0, size=(4, 64, 256)), jnp.float32)
  t = jnp.asarray(r.integers(0, 256, (4, 64)), jnp.int32)
  w = jnp.asarray(r.normal(size=(4, 64)), jnp.float32)

  def autodiff_form(logits, targets):
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]

  ours = jax.jit(jax.value_and_grad(lambda z: (w * log_probs(z, t)).sum()))(z)
  ref = jax.jit(jax.value_and_grad(lambda z: (w * autodiff_form(z, t)).sum()))(z)
  np.testing.assert_array_equal(np.asarray(ours[0]), np.asarray(ref[0]))
  np.testing.assert_array_equal(np.asarray(ours[1]), np.asarray(ref[1]))


def test_bfloat16_lstm_rounds_only_its_matmul_operands():
  """An LSTM layer in bfloat16 (``layers.RNNLayer``, ``rnn_type='LSTM'``)
  equals its recurrence written out in float64 here, where only the
  recurrent matmul's operands (h and the weights) are rounded to bf16: the
  hidden and cell state are carried at full precision from step to step.
  The input projection is the layer's own (not what is checked). Tolerance
  2e-4 absolute (float32 against float64 over 48 steps: measured 5e-7); a
  state rounded to bf16 inside the scan or between its steps is off by
  about 1e-2 (the cell state grows to several units under the forget gate's
  +3 bias, bf16 keeps 8 bits). Rules out the LSTM's state carried or
  rounded in bf16, which test_gru_scan_carries_the_state_cast_for_its_matmul
  rules out for the GRU only."""
  from conftest import bf16_rounded
  b, f, n, i = 3, 48, 16, 8
  layer = layers.RNNLayer(n, "LSTM", dtype=jnp.bfloat16)
  x = jax.random.normal(jax.random.key(0), (b, f, i))
  s0 = 0.5 * jax.random.normal(jax.random.key(1), (b, 2 * n))
  variables = layer.init(jax.random.key(2), x, s0)
  hs, last = layer.apply(variables, x, s0)
  xp = layer.apply(variables, x, method=lambda m, x: m.input(x) + m.bias)  # [B, F, 4H]
  w_rec = layer.apply(variables, method=lambda m: m.recurrent_gates.weights(n)[0])
  xp, w_rec = np.asarray(xp, np.float64), bf16_rounded(w_rec)
  sig = lambda a: 1 / (1 + np.exp(-a))
  h, c = np.asarray(s0[:, :n], np.float64), np.asarray(s0[:, n:], np.float64)
  want = []
  for t in range(f):
    g = xp[:, t] + bf16_rounded(h) @ w_rec
    i_g, f_g, o_g = (sig(g[:, k * n:(k + 1) * n]) for k in range(3))
    c = f_g * c + i_g * np.tanh(g[:, 3 * n:])
    h = o_g * np.tanh(c)
    want.append(h)
  assert hs.dtype == last.dtype == jnp.float32
  assert np.abs(c).max() > 2  # a state large enough for bf16 rounding to show
  np.testing.assert_allclose(hs, np.stack(want, 1), rtol=0, atol=2e-4)
  np.testing.assert_allclose(last, np.concatenate([h, c], -1), rtol=0, atol=2e-4)


def test_state_width_of_a_cell_it_does_not_know_is_an_error_naming_it():
  """``layers.state_size``: H for a GRU, 2H for an LSTM, and for a cell added
  to RNN_TYPES without its width a ValueError saying where it goes. Rules
  out any other type taken for an LSTM (2H), which surfaced as a
  dot_general shape error that named nothing."""
  from samplernn_jax import layers
  assert layers.state_size("GRU", 8) == 8 and layers.state_size("LSTM", 8) == 16
  with pytest.raises(ValueError, match="layers.state_size: no state width for rnn_type 'MGU'"):
    layers.state_size("MGU", 8)
