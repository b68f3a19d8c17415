"""Research variants and the fast paths.

Every variant config in configs/ trains (cost falls on a fixed batch); the
three-tier and LSTM parameter counts equal counts written out by hand; the
table look-up forms of the sample tier's first layer (with autodiff's, the
one-hot matmul's and the Pallas kernel's gradient) equal the matmul form;
bfloat16 matmuls, forward and backward, keep the tiny model's cost curve
within 0.02 bits of fp32, and every dot of the bf16 step takes bf16 operands.
"""
import functools
import importlib
import importlib.util
import os
import re

import jax
import jax.numpy as jnp
import flax.linen as nn
import ml_collections
import numpy as np
import pytest

from conftest import (bf16_rounded, dot_operand_dtypes, load_sample_py, nested_eqns,
                      perturbed, readme_python_block)
from samplernn_jax import config as config_lib
from samplernn_jax import steps, trainer
from samplernn_jax.layers import WNDense
from samplernn_jax.model import SampleRNN, SampleTier

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = ["three_tier", "lstm", "skip", "no_embedding", "class_embedding"]


def load(name):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", name + ".py"))
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config()


def shrink(config):
  """The same variant at test size."""
  config.dim, config.emb_size = 16, (8 if config.emb_size else 0)
  config.seq_len, config.batch_size = 64, 4
  if config.cond_emb_size:
    config.cond_emb_size = 4
  return config


def fixed_batch(config, n_classes, seed=0):
  """A learnable batch: a slow sawtooth per row, quantised."""
  top = config_lib.frame_sizes(config)[0]
  b, l = config.batch_size, config.seq_len + top
  t = np.arange(l)[None] + 7 * np.arange(b)[:, None]
  chunk = ((t % 32) * 8).astype(np.int32)
  return {"chunk": chunk, "mask": np.ones((b, config.seq_len), np.float32),
          "sid": np.arange(b, dtype=np.int32) % n_classes, "reset": np.ones(b, bool)}


def train_run(config, n_classes, n_steps, seed=0):
  """(cost of each step, parameters before, parameters after)."""
  model = config_lib.build_model(config, n_classes)
  tx = steps.make_optimizer(config)
  state = steps.init_state(model, tx, jax.random.key(seed), config.batch_size, config.seq_len)
  params = state.params
  step = jax.jit(functools.partial(steps.train_step, model, tx))
  batch = fixed_batch(config, n_classes)
  losses = []
  for _ in range(n_steps):
    before = state.bits_sum
    state = step(state, batch)
    losses.append(float(state.bits_sum - before))
  return np.array(losses), params, state.params


def train_curve(config, n_classes, n_steps, seed=0):
  return train_run(config, n_classes, n_steps, seed)[0]


@pytest.mark.parametrize("name", VARIANTS + ["real_input"])
def test_variant_trains(name):
  """Each variant config (three_tier, lstm, skip, no_embedding, class_embedding, and real-valued
  sample input) at dim 16: 40 Adam steps on a fixed sawtooth batch give finite costs, the last
  5 steps' mean at least 1 bit below the first 5's (measured falls of 2-5 bits), and every
  parameter array has moved. Rules out a variant that fails to build or step, gives
  non-finite costs, or does not learn at all (e.g. gradients that never reach the
  parameters), and a layer it builds but leaves out of the function (e.g. skip projections
  computed and not added to the output: Adam leaves a parameter without gradient as it was,
  while the rest still learns)."""
  if name == "real_input":
    config = shrink(load("no_embedding"))
    config.sample_input = "real"
  else:
    config = shrink(load(name))
  losses, before, after = train_run(config, 4, 40)
  assert np.isfinite(losses).all()
  # A fixed sawtooth batch is easy: measured falls of 2-5 bits in 40 steps.
  assert losses[-5:].mean() < losses[:5].mean() - 1.0, losses
  still = [jax.tree_util.keystr(path) for (path, a), b in
           zip(jax.tree_util.tree_leaves_with_path(before), jax.tree.leaves(after))
           if np.array_equal(a, b)]
  assert not still, still


def test_three_tier_param_count_by_hand():
  """trainer.param_count of configs/three_tier.py (dim 1024, sample embedding 256, 256 levels,
  15 classes, frame sizes 8 and 2) is 18 790 912, the count written out layer by layer here.
  Rules out a bias on the sample tier's first layer (the original has none), a top tier's
  output sized by its frame (8 vectors) instead of its ratio to the tier below (4), and a
  tier without its learned h0."""
  h, e, q, c = 1024, 256, 256, 15
  gru = lambda i: (i * 3 * h + 2 * 3 * h) + (h * 2 * h + 2 * h) + (h * h + h)
  wn = lambda i, o, bias=True: i * o + o + (o if bias else 0)
  top = gru(8 + c) + h + wn(h, 4 * h)              # GRU, h0, output to 8/2 vectors
  mid = wn(2, h) + gru(h) + h + wn(h, 2 * h)       # input expand, GRU, h0, output
  sample = q * e + wn(2 * e, h, False) + 2 * wn(h, h) + wn(h, q)
  assert trainer.param_count(load("three_tier"), c) == top + mid + sample == 18790912


def test_lstm_param_count_by_hand():
  """trainer.param_count of configs/lstm.py (dim 1024, three LSTM layers, frame 16, 15 classes)
  is 44 576 256, the count written out here: one bias a layer, an h0 of hidden and cell state.
  Rules out a second (recurrent) bias per layer as PyTorch's LSTM has, an h0 without the cell
  state, and a bias on the sample tier's first layer."""
  h, e, q, c, n = 1024, 256, 256, 15, 3
  lstm = lambda i: (i * 4 * h + 4 * h) + (h * 4 * h + 4 * h) + 4 * h
  wn = lambda i, o, bias=True: i * o + o + (o if bias else 0)
  frame = lstm(16 + c) + (n - 1) * lstm(h) + n * 2 * h + wn(h, 16 * h)
  sample = q * e + wn(16 * e, h, False) + 2 * wn(h, h) + wn(h, q)
  assert trainer.param_count(load("lstm"), c) == frame + sample == 44576256


@pytest.mark.parametrize("l1", ["table", "table_mm", "table_pallas"])
def test_table_lookup_equals_matmul(l1):
  """sample_l1 'table' (gathers; autodiff's scatter-add gradient), 'table_mm'
  (gathers; the gradient as one one-hot matmul) and 'table_pallas' (that
  matmul as the Pallas kernel, interpreted on the CPU) give the 'matmul'
  form's logits (atol 1e-4, float32 sums in another order) and its gradient
  of the chunk cost for every parameter (relative 1e-4 of the largest entry
  of each leaf). Rules out a wrong table index order (shared by every table
  form: the reference is 'matmul' itself, not the default 'auto', which is
  'table' on a CPU), a one-hot gradient with the wrong table positions or
  levels (e.g. transposed [Q, s]), and a table path that skips the weight
  norm of the first layer."""
  config = shrink(load("dcase2016"))
  config.sample_l1 = "matmul"  # not the default 'auto': on a CPU that is 'table'
  model = config_lib.build_model(config, 4)
  assert model.l1_impl == "matmul"
  config.sample_l1 = l1
  table_model = config_lib.build_model(config, 4)
  params = steps.init_params(model, jax.random.key(3), config.seq_len)
  batch = jax.tree.map(jnp.asarray, fixed_batch(config, 4))
  h = steps.initial_rnn_state(model, params, config.batch_size)
  cv = steps.class_vectors(batch["sid"], 4)
  # jitted: eager, the scans' forward and backward ran op by op (the three cases 20 s; 13 s)
  a, _ = jax.jit(model.apply)({"params": params}, batch["chunk"], cv, h)
  b, _ = jax.jit(table_model.apply)({"params": params}, batch["chunk"], cv, h)
  np.testing.assert_allclose(a, b, atol=1e-4)  # float32 sums in another order
  grad = lambda m: jax.jit(jax.grad(lambda p: steps.chunk_cost(m, p, batch, h)[0]))(params)
  ga, gb = grad(model), grad(table_model)
  for path, x, y in zip(jax.tree_util.tree_leaves_with_path(ga), jax.tree.leaves(ga),
                        jax.tree.leaves(gb)):
    np.testing.assert_allclose(y, x, atol=1e-4 * float(jnp.abs(x).max()) + 1e-7,
                               err_msg=jax.tree_util.keystr(path[0]))


@pytest.mark.parametrize("grad_dtype, rtol", [(jnp.float32, 1e-5), (jnp.bfloat16, 1e-2)])
def test_table_sum_matmul_gradient_equals_the_scatter_gradient(grad_dtype, rtol):
  """layers.table_sum with grad_dtype (the one-hot matmul gradient) against
  autodiff of the gathers, on indices with many repeats (N=60 rows over Q=6
  levels): same forward, same table gradient within float32 summation error
  (1e-5) or the bfloat16 rounding of the cotangent (1e-2 of the largest
  entry). Rules out a one-hot over the wrong axis, rows of one table
  position added to another, and a gradient that ignores repeated indices."""
  from samplernn_jax.layers import table_sum
  r = np.random.default_rng(1)
  tables = jnp.asarray(r.normal(size=(4, 6, 5)), jnp.float32)
  idx = jnp.asarray(r.integers(0, 6, size=(3, 20, 4)), jnp.int32)
  g = jnp.asarray(r.normal(size=(3, 20, 5)), jnp.float32)
  y0, vjp0 = jax.vjp(lambda t: table_sum(t, idx), tables)
  y1, vjp1 = jax.vjp(lambda t: table_sum(t, idx, grad_dtype), tables)
  np.testing.assert_array_equal(y0, y1)
  (d0,), (d1,) = vjp0(g), vjp1(g)
  assert d1.dtype == jnp.float32
  np.testing.assert_allclose(d1, d0, atol=rtol * float(jnp.abs(d0).max()))


@pytest.mark.parametrize("kernel, pallas_calls", [("xla", 0), ("pallas", 2)])
def test_table_sum_gradient_runs_the_kernel_it_names(kernel, pallas_calls):
  """table_sum's one-hot gradient runs Pallas' kernel (a pallas_call in
  each platform's branch of the backward's program: the interpreter's and
  Triton's) for grad_kernel='pallas' (sample_l1='table_pallas') and none for
  'xla' ('table_mm'). Rules out the two branches swapped: both
  give the same values on a CPU (the kernel in Pallas' interpreter), so only
  the program tells 'table_mm' from 'table_pallas'."""
  from samplernn_jax.layers import table_sum
  tables = jnp.zeros((4, 6, 5), jnp.float32)
  idx = jnp.zeros((3, 4), jnp.int32)
  grad = jax.grad(lambda t: table_sum(t, idx, jnp.float32, kernel).sum())
  eqns = nested_eqns(jax.make_jaxpr(grad)(tables).jaxpr)
  assert sum(e.primitive.name == "pallas_call" for e in eqns) == pallas_calls


@pytest.mark.parametrize("l1, pallas_calls", [("table_mm", 0), ("table_pallas", 2),
                                               ("table", 0), ("matmul", 0)])
def test_a_models_sample_l1_reaches_its_gradient_program(l1, pallas_calls):
  """A whole model's parameter gradient runs the sample tier's table
  gradient in Pallas (two pallas_calls, one per platform branch) for
  ``l1_impl='table_pallas'`` and in XLA for the others. Rules out the
  model choosing the table gradient's kernel by another name than
  table_pallas (on a CPU both kernels give the same values, so only the
  program tells them apart)."""
  config = config_lib.base_config()
  config.update(dict(dim=8, emb_size=4, n_rnn=1, seq_len=16, q_levels=16, n_classes=2,
                     sample_l1=l1))
  model = config_lib.build_model(config)
  params = steps.init_params(model, jax.random.key(0), config.seq_len)
  chunk = jnp.zeros((1, 32), jnp.int32)
  state = model.apply({"params": params}, 1, method="initial_state")
  grad = jax.grad(lambda p: model.apply({"params": p}, chunk, jnp.ones((1, 2)) / 2,
                                        state)[0].sum())
  eqns = nested_eqns(jax.make_jaxpr(grad)(params).jaxpr)
  assert sum(e.primitive.name == "pallas_call" for e in eqns) == pallas_calls


def test_bfloat16_cost_curve_close_to_float32():
  """config.dtype='bfloat16' changes the computation, and only a little.

  Both runs start from the same parameters (same seed) on the same batch, so
  the first step's loss is one cost computed in two dtypes: it must differ
  (by more than 5e-5 bits; measured 6e-4; rules out config.dtype being
  ignored, which gives the identical float32 program and a difference of 0,
  while float32 sums in another order differ by ~1e-6) and stay within 0.02
  bits. The curves then stay within 0.02 bits per 10-step window.
  """
  config = shrink(load("tiny"))
  config.dim, config.emb_size = 32, 16
  fp32 = train_curve(config, 4, 30)
  config.dtype = "bfloat16"
  bf16 = train_curve(config, 4, 30)
  assert 5e-5 < abs(bf16[0] - fp32[0]) < 0.02, (fp32[0], bf16[0])
  # Windows of 10 steps: the curves stay within 0.02 bits per sample.
  w32, w16 = fp32.reshape(3, 10).mean(1), bf16.reshape(3, 10).mean(1)
  assert np.abs(w32 - w16).max() < 0.02, (w32, w16)
  assert w32[-1] < w32[0]


@pytest.mark.parametrize("rnn", ["GRU", "LSTM"])
def test_bfloat16_train_step_runs_every_matmul_on_bfloat16_operands(rnn):
  """With config.dtype='bfloat16' every dot of the train step, forward and
  backward (the GRU/LSTM scan's included), takes two bf16 operands. Rules
  out plain autodiff of a bf16 forward (the code before 2026-11-30): its
  backward dots pair the float32 cotangent with a bf16 operand, which XLA
  runs in float32, i.e. two thirds of the step's matmul FLOPs at float32
  speed. The float32 config is checked too, so the walk itself finds dots."""
  config = shrink(load("tiny"))
  config.rnn_type, config.sample_l1 = rnn, "matmul"
  model32 = config_lib.build_model(config, 4)
  config.dtype = "bfloat16"
  model16 = config_lib.build_model(config, 4)
  tx = steps.make_optimizer(config)
  state = steps.init_state(model32, tx, jax.random.key(0), config.batch_size, config.seq_len)
  batch = fixed_batch(config, 4)
  dots = {}
  for name, model in (("float32", model32), ("bfloat16", model16)):
    step = functools.partial(steps.train_step, model, tx)
    dots[name] = dot_operand_dtypes(jax.make_jaxpr(step)(state, batch).jaxpr)
  # forward and backward of 5 sample-tier and >= 3 per RNN layer matmuls
  assert len(dots["float32"]) >= 20 and len(dots["bfloat16"]) >= 20, dots
  assert set(dots["float32"]) == {("float32", "float32")}
  assert set(dots["bfloat16"]) == {("bfloat16", "bfloat16")}, dots["bfloat16"]


@pytest.mark.parametrize("l1, scatters", [("table_mm", 0), ("table_pallas", 0), ("matmul", 1),
                                           ("table", 16)])
def test_train_step_scatters_only_where_the_form_says(l1, scatters):
  """The train step's scatter-adds (atomic adds on a GPU; a compare-and-swap
  loop per update under jaxlib 0.10.2-0.11.0): none with 'table_mm' and
  'table_pallas', the embedding's one with 'matmul', one per table position
  (s = 16) with 'table'. Rules out a loss whose gradient scatters into the
  [B, T, Q] logits (autodiff of take_along_axis, the code before 2026-11-30)
  and a one-hot-matmul form that still scatters somewhere."""
  config = shrink(load("dcase2016"))
  config.sample_l1 = l1
  model = config_lib.build_model(config, 4)
  tx = steps.make_optimizer(config)
  state = jax.eval_shape(lambda: steps.init_state(model, tx, jax.random.key(0),
                                                  config.batch_size, config.seq_len))
  jaxpr = jax.make_jaxpr(functools.partial(steps.train_step, model, tx))(
      state, fixed_batch(config, 4)).jaxpr
  names = [e.primitive.name for e in nested_eqns(jaxpr)]
  assert "gather" in names  # the walk reaches the look-ups
  assert sum(n.startswith("scatter") for n in names) == scatters, sorted(set(names))


def test_bfloat16_matmul_gradient_is_the_bf16_products_accumulated_in_float32():
  """precision.matmul's gradient in bf16, against float64 numpy: dx = g w^T and
  dw = x^T g over a [B, F, I] input, on the bf16-rounded x, w and cotangent g,
  within float32 accumulation error (rtol 1e-5). Rules out a transposed or
  mis-contracted backward (wrong shapes or values), a cotangent left in
  float32 (errors ~1e-3) and gradients returned in bf16 instead of the
  inputs' float32."""
  from samplernn_jax.precision import matmul
  r = np.random.default_rng(0)
  x = jnp.asarray(r.normal(size=(3, 5, 48)), jnp.float32)
  w = jnp.asarray(r.normal(size=(48, 24)), jnp.float32)
  g = jnp.asarray(r.normal(size=(3, 5, 24)), jnp.float32)
  y, vjp = jax.vjp(lambda a, b: matmul(a, b, jnp.bfloat16), x, w)
  dx, dw = vjp(g)
  assert y.dtype == dx.dtype == dw.dtype == jnp.float32
  bf = bf16_rounded
  np.testing.assert_allclose(y, bf(x) @ bf(w), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dx, bf(g) @ bf(w).T, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dw, np.einsum("bfi,bfo->io", bf(x), bf(g)),
                             rtol=1e-5, atol=1e-5)


def test_relu_to_rounds_its_output_and_masks_from_it():
  """precision.relu_to: in float32 nn.relu itself (value and gradient); in
  bfloat16 relu(x) rounded to bf16, and the gradient the incoming cotangent
  where x > 0, zero elsewhere, returned in x's float32. Rules out a mask
  inverted or taken as x >= 0 (x = 0 is in the input) and a forward left in
  float32."""
  from samplernn_jax.precision import relu_to
  x = jnp.asarray(np.r_[np.random.default_rng(0).normal(size=99), 0.0], jnp.float32)
  g = jnp.asarray(np.random.default_rng(1).normal(size=100), jnp.bfloat16)
  y32, vjp32 = jax.vjp(lambda a: relu_to(a, jnp.float32), x)
  np.testing.assert_array_equal(y32, nn.relu(x))
  np.testing.assert_array_equal(vjp32(g.astype(jnp.float32))[0],
                                jax.vjp(nn.relu, x)[1](g.astype(jnp.float32))[0])
  y, vjp = jax.vjp(lambda a: relu_to(a, jnp.bfloat16), x)
  assert y.dtype == jnp.bfloat16
  np.testing.assert_array_equal(y, nn.relu(x).astype(jnp.bfloat16))
  (dx,) = vjp(g)
  assert dx.dtype == jnp.float32
  np.testing.assert_array_equal(dx, np.where(np.asarray(x) > 0, np.asarray(g, np.float32), 0))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_sample_tier_keeps_bf16_activations_for_its_backward(dtype):
  """What the sample tier's backward keeps of its [B, T, H] activations: in
  bfloat16 only bf16 arrays (the first hidden layer's input and each ReLU's
  output, which is also its mask), in float32 the float32 ones autodiff
  keeps. Rules out a bf16 step that keeps a float32 pre-activation or a
  boolean mask beside the bf16 output (on a GPU the matmul's float32 result
  then goes to memory and is read twice more: keeping only bf16 took 9 ms
  off the paper step's roofline at batch 1024 on an H200, compiled:
  benchmarks/README.md)."""
  config = config_lib.base_config()
  config.update(dict(dim=8, emb_size=4, n_rnn=1, seq_len=32, q_levels=16, n_classes=3,
                     sample_l1="table_mm", dtype=dtype))
  model = config_lib.build_model(config)
  params = steps.init_params(model, jax.random.key(1), config.seq_len)
  b, t, s = 2, 6, model.frame_sizes[-1]
  prev = jnp.asarray(np.random.default_rng(0).integers(0, 16, (b, t, s)))
  _, vjp = jax.vjp(lambda p, u: model.apply({"params": p}, prev, u, jnp.ones((b, 3)),
                                            method=model.sample_logits),
                   params, jnp.ones((b, t, 8)))
  kept = sorted(str(x.dtype) for x in jax.tree.leaves(vjp)
                if hasattr(x, "dtype") and x.shape == (b, t, 8))
  if dtype == "bfloat16":
    assert kept == ["bfloat16"] * 3, kept
  else:
    assert "bool" in kept and "float32" in kept, kept


def test_bfloat16_keeps_the_rnn_state_and_parameters_in_float32():
  """config.dtype='bfloat16' runs the matmuls in bf16 only: after train steps
  that carry the RNN state from one chunk to the next, the carried state,
  the parameters and Adam's moments are float32, and so is the sampler's
  carried state after a block of generation (the types the programs give,
  from ``jax.eval_shape``: nothing compiled). Rules out h0 or the carried
  state stored as bfloat16 between chunks or blocks (a state rounded to 8
  bits of mantissa at each of the thousands of steps of a clip) and
  parameters or moments kept in bf16. (A state rounded inside the scan but
  returned as float32 is not seen here; for the GRU,
  test_model.py::test_gru_scan_carries_the_state_cast_for_its_matmul reads
  the loop itself.)"""
  from samplernn_jax import sampling
  config = shrink(load("tiny"))
  config.dtype = "bfloat16"
  model = config_lib.build_model(config, 4)
  assert model.dtype == jnp.bfloat16  # the setting reached the model
  tx = steps.make_optimizer(config)
  state = steps.init_state(model, tx, jax.random.key(0), config.batch_size, config.seq_len)
  params = state.params
  step = functools.partial(steps.train_step, model, tx)
  batch = fixed_batch(config, 4)
  state = jax.eval_shape(step, state, batch)
  state = jax.eval_shape(step, state, dict(batch, reset=np.zeros_like(batch["reset"])))
  floats = lambda tree: [x.dtype for x in jax.tree.leaves(tree)
                         if jnp.issubdtype(x.dtype, jnp.floating)]
  for name in ("rnn_state", "params", "opt_state"):
    dtypes = floats(getattr(state, name))
    assert dtypes and set(dtypes) == {jnp.dtype(jnp.float32)}, (name, dtypes)

  fast_model, fast_params = sampling.prepare(model, params)
  variables = {"params": fast_params}
  carry = sampling.initial_carry(fast_model, variables, 2)
  class_vec = jnp.asarray(np.eye(4, dtype=np.float32)[:2])
  forced = jnp.full((2, 4 * fast_model.frame_sizes[0]), -1, jnp.int32)
  carry, x, _ = jax.eval_shape(
      lambda c: sampling._generate_block(fast_model, variables, class_vec, c, forced,
                                         jax.random.key(1), jnp.float32(1.0),
                                         jnp.float32(1.0), False), carry)
  assert x.shape == forced.shape
  dtypes = floats(carry[0])
  assert dtypes and set(dtypes) == {jnp.dtype(jnp.float32)}, dtypes


# ---------------------------------------------------------------------------
# The variants' sample tier against a numpy version written out here.


def _np_dense(p, x, weight_norm, bias=True):
  w = np.asarray(p["kernel"], np.float64)
  if weight_norm:
    w = w * (np.asarray(p["scale"], np.float64) / np.linalg.norm(w, axis=0))
  y = x @ w
  return y + np.asarray(p["bias"], np.float64) if bias else y


@pytest.mark.parametrize("variant", [
    dict(),                                                   # embedding input (paper)
    dict(sample_input="one_hot", emb_size=0),
    dict(sample_input="real", emb_size=0),
    dict(weight_norm=False),
    dict(cond_sample_tier=True),
    dict(cond_type="embedding", cond_emb_size=3, cond_sample_tier=True),
], ids=["embedding", "one_hot", "real", "no_weight_norm", "cond_sample_tier",
        "class_embedding"])
def test_sample_tier_equals_the_mlp_written_out(variant):
  """The sample tier of each variant computes, from its parameters, the MLP
  the README describes: previous samples (embedded, one-hot, or real values
  q / (Q/2) - 1) through the first Linear, plus the upper tier's output,
  plus (cond_sample_tier) the conditioning through its own Linear, where the
  conditioning is the one-hot class or (class embedding) class_vec @ table;
  then two ReLU layers and the output layer, weight-normed per output column
  unless weight_norm is off. Written out in float64 numpy, to 1e-4, on
  parameters given N(0, 0.1) noise (at initialisation biases are zero and
  each weight-norm scale is its column's norm, so dropping either would
  agree). Rules out a variant flag that is accepted but ignored, weight norm
  or biases left out, the conditioning added twice or not at all, and
  real-valued input on the wrong scale."""
  config = config_lib.base_config()
  config.update(dict(dim=8, emb_size=4, n_rnn=1, seq_len=32, q_levels=16, n_classes=3,
                     sample_l1="matmul"))
  config.update(variant)
  model = config_lib.build_model(config)
  params = perturbed(steps.init_params(model, jax.random.key(1), config.seq_len), seed=1)
  p = jax.tree.map(np.asarray, params)
  st = p["sample_tier"]
  rng = np.random.default_rng(0)
  s, q, d = model.frame_sizes[-1], config.q_levels, config.dim
  prev = rng.integers(0, q, (2, 5, s))
  upper = rng.standard_normal((2, 5, d))
  class_vec = np.eye(3)[[0, 2]]
  cond = model.apply({"params": params}, jnp.asarray(class_vec, jnp.float32),
                     method=model.conditioning)
  got = model.apply({"params": params}, jnp.asarray(prev), jnp.asarray(upper, jnp.float32),
                    cond, method=model.sample_logits)
  wn = config.weight_norm
  if config.sample_input == "embedding" and config.emb_size:
    x = st["embedding"][prev].reshape(2, 5, s * config.emb_size)
  elif config.sample_input == "real":
    x = prev / (q / 2) - 1.0
  else:
    x = np.eye(q)[prev].reshape(2, 5, s * q)
  h = _np_dense(st["prev_samples"], x, wn, bias=False) + upper
  c = class_vec @ p["class_embedding"] if config.cond_type == "embedding" else class_vec
  np.testing.assert_allclose(np.asarray(cond), c, rtol=1e-6, atol=1e-6)
  if config.cond_sample_tier:
    h = h + _np_dense(st["cond"], c, wn, bias=False)[:, None, :]
  else:
    assert "cond" not in st
  h = np.maximum(_np_dense(st["hidden1"], h, wn), 0)
  h = np.maximum(_np_dense(st["hidden2"], h, wn), 0)
  want = _np_dense(st["output"], h, wn)
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)
  assert ("scale" in st["hidden1"]) == wn


@pytest.mark.parametrize("learn_h0", [True, False])
def test_learn_h0_false_starts_every_tier_from_zeros(learn_h0):
  """learn_h0=False: no h0 parameter anywhere and every tier starts from a
  zero state; learn_h0=True: an h0 parameter per tier [n_rnn, D] that is the
  initial state (rules out the flag ignored either way)."""
  config = config_lib.base_config()
  config.update(dict(dim=8, emb_size=4, n_rnn=2, seq_len=32, q_levels=16, n_classes=3,
                     frame_size=8, frame_sizes=(8, 2), learn_h0=learn_h0))
  model = config_lib.build_model(config)
  params = steps.init_params(model, jax.random.key(1), config.seq_len)
  if learn_h0:  # give h0 values, so a state of zeros would be wrong
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: x + 0.5 if "h0" in jax.tree_util.keystr(path) else x, params)
  state = steps.initial_rnn_state(model, params, 3)
  h0s = [k for k in jax.tree_util.tree_flatten_with_path(params)[0]
         if "h0" in jax.tree_util.keystr(k[0])]
  assert len(state) == 2
  if learn_h0:
    assert len(h0s) == 2
    for (path, h0), st in zip(sorted(h0s, key=lambda kv: jax.tree_util.keystr(kv[0])), state):
      np.testing.assert_array_equal(np.asarray(st), np.broadcast_to(h0, (3,) + h0.shape))
  else:
    assert not h0s
    assert all(not np.asarray(st).any() for st in state)


# ---------------------------------------------------------------------------
# A variant in the user's own code (README, "A variant in your own code").


def assert_sampler_runs_the_training_function(model, params):
  """Log-probs of a forced sequence from the sampler (``sampling.prepare``'s
  rewrites included) equal the training forward's, within 1e-4 nats."""
  from samplernn_jax import sampling
  assert sampling.teacher_forcing_gap(model, params) < 1e-4


def test_teacher_forcing_gap_sees_a_sampler_that_runs_another_function():
  """``sampling.teacher_forcing_gap``, which the variant tests here and
  variant authors rely on: small for the library's model, large when the
  sampler's parameters are not the trained ones (a prepare_fn that shifts
  one output bias). Rules out a gap that compares the sampler with itself,
  or the forward with itself (0 whatever the sampler does)."""
  from samplernn_jax import sampling
  config = shrink(load("tiny"))
  model = config_lib.build_model(config, 2)
  params = jax.jit(lambda k: steps.init_params(model, k, config.seq_len))(jax.random.key(0))
  assert sampling.teacher_forcing_gap(model, params) < 1e-4

  def shifted(model, params):
    model, params = sampling.prepare(model, params)
    out = dict(params["sample_tier"]["output"])
    out["bias"] = out["bias"].at[3].add(5.0)
    return model, {**params, "sample_tier": {**params["sample_tier"], "output": out}}
  assert sampling.teacher_forcing_gap(model, params, prepare_fn=shifted) > 0.1


def test_teacher_forcing_gap_sees_a_dropped_bias_on_freshly_initialised_parameters():
  """A sampler that drops the sample tier's output bias runs the trained
  function only while that bias is zero, as it is at initialisation: the gap
  on fresh parameters must still show it (its noise moves every parameter
  off its initial value), and with ``noise=0`` it cannot (the control that
  shows the case is the one the noise is for). Rules out a gap measured on
  the parameters as given."""
  from samplernn_jax import sampling
  config = shrink(load("tiny"))
  model = config_lib.build_model(config, 2)
  params = jax.jit(lambda k: steps.init_params(model, k, config.seq_len))(jax.random.key(0))

  def no_bias(model, params):
    model, params = sampling.prepare(model, params)
    out = dict(params["sample_tier"]["output"])
    out["bias"] = jnp.zeros_like(out["bias"])
    return model, {**params, "sample_tier": {**params["sample_tier"], "output": out}}
  assert sampling.teacher_forcing_gap(model, params, prepare_fn=no_bias, noise=0) < 1e-4
  assert sampling.teacher_forcing_gap(model, params, prepare_fn=no_bias) > 0.01


def test_a_tier_may_carry_a_state_of_its_own_width():
  """A variant frame tier whose state is wider than its RNN layers' (here
  8 extra numbers carried through unchanged) initialises, and the sampler
  runs its training forward: ``init_params`` takes the state's shape from the tiers' own
  ``h0``. Rules out sizing it from rnn_type and dim alone, which failed in
  init with "add got incompatible shapes for broadcasting"."""
  from samplernn_jax.model import FrameTier

  class PaddedState(FrameTier):
    @property
    def state_size(self):
      return super().state_size + 8

    def __call__(self, x, upper, h):
      y, last = super().__call__(x, upper, h[..., :-8])
      return y, jnp.concatenate([last, h[..., -8:]], axis=-1)

  class Padded(SampleRNN):
    frame_tier_class = PaddedState

  config = shrink(load("tiny"))
  model = config_lib.build_model(config, 2, Padded)
  params = jax.jit(lambda k: steps.init_params(model, k, config.seq_len))(jax.random.key(0))
  assert params["tier0"]["h0"].shape == (config.n_rnn, config.dim + 8)
  assert_sampler_runs_the_training_function(model, params)


def test_a_frame_tier_builds_its_own_rnn_layer_class():
  """``FrameTier.rnn_layer_class``: a variant's recurrent layer (here the
  library's with its output halved) is built in every layer, changes the
  function, and the sampler runs it. Rules out the attribute ignored
  (RNNLayer built whatever it names), which made a variant copy the whole of
  ``FrameTier.setup`` to use another cell."""
  from samplernn_jax.layers import RNNLayer
  from samplernn_jax.model import FrameTier

  class HalvedRNN(RNNLayer):
    def __call__(self, x, h):
      out, last = super().__call__(x, h)
      return 0.5 * out, last

  class HalvedTier(FrameTier):
    rnn_layer_class = HalvedRNN

  class Halved(SampleRNN):
    frame_tier_class = HalvedTier

  config = shrink(load("tiny"))
  model = config_lib.build_model(config, 2, Halved)
  base = config_lib.build_model(config, 2)
  params = jax.jit(lambda k: steps.init_params(model, k, config.seq_len))(jax.random.key(0))
  chunk = jnp.asarray(np.random.default_rng(1).integers(0, 256, (2, config.seq_len + 16)))
  vec = jnp.eye(2)
  logits = [m.apply({"params": params}, chunk, vec, steps.initial_rnn_state(m, params, 2))[0]
            for m in (model, base)]
  assert float(jnp.max(jnp.abs(logits[0] - logits[1]))) > 1e-3
  assert_sampler_runs_the_training_function(model, params)


def test_a_sample_tier_sizes_its_own_output_layer():
  """``SampleTier.out_features``: a variant whose output layer is wider than
  Q (here 2Q numbers summed in pairs into the Q logits by its ``mlp``, as a
  mixture's parameters would be turned into them) gets that layer, and the
  sampler runs its training forward. Rules out the width fixed at q_levels, which made such a
  variant add a second output layer beside an unused one."""
  from samplernn_jax import precision

  class PairedTier(SampleTier):
    @property
    def out_features(self):
      return 2 * self.q_levels

    def mlp(self, x):
      x = self.hidden1_relu(x)
      y = self.output(precision.relu_to(self.hidden2(x), self.dtype))
      return y[..., :self.q_levels] + y[..., self.q_levels:]

  class Paired(SampleRNN):
    sample_tier_class = PairedTier

  config = shrink(load("tiny"))
  model = config_lib.build_model(config, 2, Paired)
  params = jax.jit(lambda k: steps.init_params(model, k, config.seq_len))(jax.random.key(0))
  assert params["sample_tier"]["output"]["kernel"].shape[-1] == 2 * config.q_levels
  assert_sampler_runs_the_training_function(model, params)


def test_readme_variant_in_own_code_trains_samples_and_is_what_it_says(tmp_path, monkeypatch):
  """The README's own-code variant (a third hidden layer in the sample tier,
  ``model_cls=``) runs as written: it trains, its checkpoint holds
  ``hidden3``, clips are written; the sampler runs the variant's function
  (log-probs of a forced sequence equal the training forward's: the
  sampler's rewrites do not mistake the variant for the library's model);
  the library's own model refuses its checkpoint (for sampling and for a
  resume: the class recorded in it, and its parameters). Rules out a
  ``model_cls`` that is accepted but not built (the trainer or loader
  building SampleRNN whatever it is given: no hidden3 in the checkpoint),
  a tier class attribute that setup ignores, and README code that no longer
  runs."""
  from samplernn_jax import checkpoint as ckpt_lib
  from samplernn_jax import sample_files, theano_params
  from samplernn_jax.errors import ParamFormatError
  os.symlink(os.path.join(ROOT, "configs"), tmp_path / "configs")
  monkeypatch.chdir(tmp_path)
  real_load = config_lib.load_config_file

  def smaller(path):  # the README's tiny.py, smaller still: half this test's time
    c = real_load(path)
    c.update(dict(dim=16, n_rnn=1, seq_len=64, max_eval_clips=2))
    return c
  monkeypatch.setattr(config_lib, "load_config_file", smaller)
  code = readme_python_block("### A variant in your own code")
  classes, run = code.split("\nconfig = config_lib.load_config_file", 1)
  (tmp_path / "readme_variant.py").write_text(classes)  # importable, for --model_cls
  monkeypatch.syspath_prepend(str(tmp_path))
  space = dict(vars(importlib.import_module("readme_variant")))
  exec(compile("config = config_lib.load_config_file" + run, "README.md", "exec"), space)
  loaded = space["loaded"]
  assert "hidden3" in loaded.params["sample_tier"]
  assert type(loaded.model).__name__ == "Deeper"
  clips = sorted(os.listdir("runs/deeper/clips"))
  assert sum(c.endswith(".wav") for c in clips) == len(loaded.class_names)

  assert_sampler_runs_the_training_function(loaded.model, loaded.params)
  assert ckpt_lib.find_step("runs/deeper", "latest")[1] == 20
  loaded_params = loaded.params
  with pytest.raises(ParamFormatError, match=re.escape(
      "trained by the model class 'readme_variant:Deeper', not 'samplernn_jax.model:SampleRNN'; "
      "load it with model_cls=Deeper (sample.py, score.py: --model_cls=readme_variant:Deeper)")):
    sample_files.load_checkpoint("runs/deeper")  # what sample.py does
  load_sample_py().main(["--workdir", "runs/deeper", "--model_cls", "readme_variant:Deeper",
                         "--out", "cli", "--per_class", "1", "--seconds", "0.05",
                         "--no_progress"])  # the flag the message names
  assert sum(c.endswith(".wav") for c in os.listdir("cli")) == len(loaded.class_names)
  with pytest.raises(ParamFormatError, match="trained by the model class 'readme_variant:Deeper'"):
    theano_params.export_original("runs/deeper", "deeper.pkl")  # import_theano_params --export
  assert not os.path.exists("deeper.pkl")
  config = space["config"]
  config.max_steps = 21
  with pytest.raises(ParamFormatError, match="runs/deeper/checkpoints/20: trained by the "
                     "model class 'readme_variant:Deeper'"):
    trainer.train_and_evaluate(config, "runs/deeper")  # a resume with SampleRNN
  assert ckpt_lib.find_step("runs/deeper", "latest")[1] == 20
  # the class check aside, the parameters alone tell the two models apart
  with pytest.raises(ParamFormatError, match="not in the model: sample_tier/hidden3"):
    ckpt_lib.check_params(loaded_params, steps.abstract_params(
        config_lib.build_model(config, len(loaded.class_names)), config.seq_len), "deeper")


def test_keep_one_checkpoint_keeps_one(tmp_path):
  """``Checkpoints(keep=1)`` (config.keep_checkpoints=1, the least the config
  accepts) keeps only the newest of three saved steps, and best/ one.
  Rules out keeping at least two, whatever the setting asks (the disk a
  user with large models saves by asking for one)."""
  from samplernn_jax import checkpoint as ckpt_lib
  ckpts = ckpt_lib.Checkpoints(str(tmp_path), keep=1)
  for step in (1, 2, 3):
    ckpts.save(ckpt_lib.LATEST, step, {"w": np.full(2, step, np.float32)}, {"step": step})
    ckpts.save(ckpt_lib.BEST, step, {"w": np.full(2, step, np.float32)}, {"step": step})
    ckpts.wait()
  ckpts.close()
  assert ckpt_lib.saved_steps(str(tmp_path), ckpt_lib.LATEST) == [3]
  assert ckpt_lib.saved_steps(str(tmp_path), ckpt_lib.BEST) == [3]


def test_save_takes_the_two_folders_only_and_a_dict_meta(tmp_path):
  """``Checkpoints.save`` writes 'latest' (the word --ckpt takes) and
  LATEST into checkpoints/, BEST into best/, and refuses any other name
  and a meta that is not a dict, before writing. Rules out the old fallback
  of every other name to best/ (a library user's save('latest') landed
  there, and a later best save of that step was silently dropped) and a
  ConfigDict meta failing on orbax's background thread."""
  from samplernn_jax import checkpoint as ckpt_lib
  ckpts = ckpt_lib.Checkpoints(str(tmp_path))
  tree = {"w": np.zeros(2, np.float32)}
  ckpts.save("latest", 1, tree, {})
  ckpts.save(ckpt_lib.BEST, 2, tree, {})
  with pytest.raises(ValueError, match="which='last': expected 'checkpoints' .* or 'best'"):
    ckpts.save("last", 3, tree, {})
  with pytest.raises(TypeError, match="meta: a ConfigDict; expected a dict"):
    ckpts.save(ckpt_lib.LATEST, 4, tree, ml_collections.ConfigDict({"a": 1}))
  ckpts.close()
  assert ckpt_lib.saved_steps(str(tmp_path), ckpt_lib.LATEST) == [1]
  assert ckpt_lib.saved_steps(str(tmp_path), ckpt_lib.BEST) == [2]


def test_a_params_refusal_names_four_of_each_kind_then_says_there_are_more():
  """``checkpoint.check_params`` names the missing, extra and reshaped
  parameters, four of each at most, with ' ...' exactly when there are
  more (five here, four in the other kind), so the line stays readable for
  a whole other model yet never hides that it was cut. Rules out a message
  that lists them all, cuts at another count, or says ' ...' of a complete
  list (or leaves it off a cut one)."""
  from samplernn_jax import checkpoint as ckpt_lib
  from samplernn_jax.errors import ParamFormatError
  want = {f"m{i}": np.zeros(2) for i in range(5)} | {f"s{i}": np.zeros(2) for i in range(4)}
  got = {f"x{i}": np.zeros(2) for i in range(4)} | {f"s{i}": np.zeros(3) for i in range(4)}
  with pytest.raises(ParamFormatError) as e:
    ckpt_lib.check_params(got, want, "ckpt/7")
  msg = str(e.value)
  assert "missing: m0, m1, m2, m3 ...; not in the model: x0, x1, x2, x3; other shape: " \
         "s0 (3,) (model (2,)), s1 (3,) (model (2,)), s2 (3,) (model (2,)), " \
         "s3 (3,) (model (2,))); it was saved" in msg, msg
  del want["m4"], want["s3"]
  got["s3"], got["x4"] = np.zeros(2), np.zeros(2)
  with pytest.raises(ParamFormatError) as e:
    ckpt_lib.check_params(got, want, "ckpt/7")
  assert "missing: m0, m1, m2, m3; not in the model: s3, x0, x1, x2 ...; other shape: " \
         "s0 (3,) (model (2,)), s1 (3,) (model (2,)), s2 (3,) (model (2,))); " in str(e.value)
  with pytest.raises(ParamFormatError) as e:  # five reshaped: four named, then ' ...'
    ckpt_lib.check_params({f"s{i}": np.zeros(3) for i in range(5)},
                          {f"s{i}": np.zeros(2) for i in range(5)}, "ckpt/7")
  assert "(other shape: s0 (3,) (model (2,)), s1 (3,) (model (2,)), s2 (3,) (model (2,)), " \
         "s3 (3,) (model (2,)) ...); it was saved" in str(e.value)


def test_model_class_check_tells_modules_apart():
  """A checkpoint records ``module:Class``. Rules out comparing class names
  alone: a fork's own ``SampleRNN`` (say a tanh MLP on the library's
  parameter shapes) was sampled by sample.py as the library's model with no
  error. And rules out too strict a match: a class trained from a script
  (``__main__``) and loaded by importing that script, or a checkpoint that
  recorded the name alone (before the module was), is accepted."""
  from samplernn_jax import checkpoint as ckpt_lib
  from samplernn_jax.errors import ParamFormatError

  def cls(module, name):
    return type(name, (), {"__module__": module, "__qualname__": name})
  assert ckpt_lib.class_name(SampleRNN) == "samplernn_jax.model:SampleRNN"
  ok = [("samplernn_jax.model:SampleRNN", SampleRNN), ("SampleRNN", SampleRNN),
        ("__main__:Deeper", cls("my_variants", "Deeper")),
        ("my_variants:Deeper", cls("__main__", "Deeper"))]
  for saved, model_cls in ok:
    ckpt_lib.check_model_class({"model_class": saved}, model_cls, "w")
  with pytest.raises(ParamFormatError, match=re.escape(
      "w: trained by the model class 'my_fork:SampleRNN', not 'samplernn_jax.model:SampleRNN'; "
      "load it with model_cls=SampleRNN (sample.py, score.py: --model_cls=my_fork:SampleRNN)")):
    ckpt_lib.check_model_class({"model_class": "my_fork:SampleRNN"}, SampleRNN, "w")
  with pytest.raises(ParamFormatError, match="--model_cls=<module>:Deeper naming the module"):
    ckpt_lib.check_model_class({"model_class": "__main__:Deeper"}, SampleRNN, "w")
  with pytest.raises(ParamFormatError, match="'__main__:SampleRNN', not 'samplernn_jax.model"):
    ckpt_lib.check_model_class({"model_class": "__main__:SampleRNN"}, SampleRNN, "w")


def test_sampler_keeps_a_variants_own_first_layer():
  """A variant whose sample tier's first layer is not the library's linear
  sum (here tanh of it, with the library's parameters, so check_params
  cannot tell) is sampled as the function it trains: ``sampling.prepare``
  leaves out the rewrites written for the library's tiers (hidden1's fold
  would sample tanh(x) W1 as tanh(x W1), with no error; the look-up tables
  alone happen to be exact here, as the variant calls the library's first
  layer). Rules out those rewrites applied to any SampleRNN subclass."""
  from samplernn_jax import sampling
  from samplernn_jax.model import SampleRNN, SampleTier

  class TanhFirst(SampleTier):
    def first_layer(self, prev, upper, cond):
      return jnp.tanh(super().first_layer(prev, upper, cond))

  class Variant(SampleRNN):
    sample_tier_class = TanhFirst

  config = shrink(load("class_embedding"))  # the class at both tiers: cond folded too
  config.n_classes = 3
  model = config_lib.build_model(config, 3, Variant)
  assert not sampling.runs_library_tiers(model)
  assert sampling.runs_library_tiers(config_lib.build_model(config, 3))
  params = jax.jit(lambda k: steps.init_params(model, k, config.seq_len))(jax.random.key(0))
  assert_sampler_runs_the_training_function(model, params)


def test_sampler_refuses_a_variant_that_overrides_the_training_forward(tmp_path):
  """A variant that changes ``SampleRNN.__call__`` (a class projection
  added there, the usual Flax habit) trains that function, while the
  sampler steps ``tier`` and ``sample_logits`` and never runs ``__call__``:
  its clips came from another function (forced log-probs 3.2 nats off, no
  error). Rules out sampling it; a variant overriding the pieces instead is
  sampled (the other tests here)."""
  from samplernn_jax import sampling

  class Projected(SampleRNN):
    def setup(self):
      super().setup()
      self.class_proj = nn.Dense(self.q_levels)

    def __call__(self, chunk, class_vec, state):
      logits, state = super().__call__(chunk, class_vec, state)
      return logits + self.class_proj(class_vec)[:, None], state

  config = shrink(load("tiny"))
  model = config_lib.build_model(config, 2, Projected)
  params = jax.jit(lambda k: steps.init_params(model, k, config.seq_len))(jax.random.key(0))
  with pytest.raises(ValueError, match="Projected overrides SampleRNN.__call__, which training "
                     "runs and the sampler does not"):
    sampling.generate(model, params, np.eye(2, dtype=np.float32), 32, jax.random.key(0))
  workdir = os.path.join(tmp_path, "run")  # and training refuses it before its first step
  with pytest.raises(ValueError, match="Projected overrides SampleRNN.__call__"):
    trainer.train_and_evaluate(config, workdir, model_cls=Projected)
  assert not os.path.exists(workdir)


class TanhDense(WNDense):
  def __call__(self, x):
    return jnp.tanh(super().__call__(x))


class TanhHidden1(SampleTier):
  """The library's sample tier (embedding input, the class at the top tier
  only) built with a tanh after hidden1: the same parameters, another function."""
  def setup(self):
    wn = dict(weight_norm=self.weight_norm, dtype=self.dtype)
    self.embedding = self.param("embedding", nn.initializers.normal(1.0),
                                (self.q_levels, self.emb_size))
    self.prev_samples = WNDense(self.dim, use_bias=False, init_type="he", **wn)
    if self.fold_hidden1:
      self.hidden1_bias = self.param("hidden1_bias", nn.initializers.zeros, (self.dim,))
    else:
      self.hidden1 = TanhDense(self.dim, init_type="he", **wn)
    self.hidden2 = WNDense(self.dim, init_type="he", **wn)
    self.output = WNDense(self.q_levels, **wn)


def test_sampler_keeps_a_variants_own_layers_built_in_setup():
  """A variant that only overrides the sample tier's ``setup`` (hidden1 a
  tanh layer with the library's parameter names) is not taken for the
  library's tiers, and is sampled as the function it trains. Rules out
  ``runs_library_tiers`` comparing the forward methods only: the fold of
  hidden1's kernel into the layers before it then dropped the tanh, with
  no error (forced log-probs 1.4 nats off)."""
  from samplernn_jax import sampling

  class Variant(SampleRNN):
    sample_tier_class = TanhHidden1

  kw = dict(frame_sizes=(4,), dim=16, n_rnn=1, q_levels=16, emb_size=4, n_classes=2)
  model = Variant(**kw)
  assert not sampling.runs_library_tiers(model)
  assert sampling.runs_library_tiers(SampleRNN(**kw))
  params = jax.jit(lambda k: steps.init_params(model, k, 8))(jax.random.key(0))
  assert_sampler_runs_the_training_function(model, params)


class HalfConditioning(SampleRNN):
  def conditioning(self, class_vec):
    return 0.5 * super().conditioning(class_vec)


class HalfTierOutput(SampleRNN):
  def tier(self, k, frames, upper, cond, h):
    out, h = super().tier(k, frames, upper, cond, h)
    return 0.5 * out, h


class HalfLogits(SampleRNN):
  def sample_logits(self, prev, upper, cond):
    return 0.5 * super().sample_logits(prev, upper, cond)


class OffsetState(SampleRNN):
  def initial_state(self, batch):
    return tuple(h + 0.5 for h in super().initial_state(batch))


@pytest.mark.parametrize("variant", [HalfConditioning, HalfTierOutput, HalfLogits, OffsetState],
                         ids=lambda v: v.__name__)
def test_sampler_and_trainer_run_a_variants_own_model_methods(variant):
  """A SampleRNN subclass overriding conditioning, tier, sample_logits or
  initial_state is sampled as the function it trains (forced log-probs
  equal its training forward's, within 1e-4) and its clips differ from the
  library model's; the trainer's initial RNN state is the override's.
  Rules out the sampler calling ``SampleRNN.tier`` and the like by the base
  class (``method=SampleRNN.tier`` runs the base function whatever the
  model's class), which sampled the library's model with the variant's
  parameters, while training ran the variant's."""
  from samplernn_jax import sampling
  config = shrink(load("class_embedding"))
  config.n_classes = 3
  model = config_lib.build_model(config, 3, variant)
  base = config_lib.build_model(config, 3)
  params = jax.jit(lambda k: steps.init_params(model, k, config.seq_len))(jax.random.key(0))
  assert_sampler_runs_the_training_function(model, params)
  own = model.apply({"params": params}, 2, method=variant.initial_state)
  for got, want in zip(steps.initial_rnn_state(model, params, 2), own):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  vec = np.eye(3, dtype=np.float32)[[0, 1]]
  n = 4 * model.frame_sizes[0]
  _, lp = sampling.generate(model, params, vec, n, jax.random.key(1))
  _, lp_base = sampling.generate(base, params, vec, n, jax.random.key(1))
  assert not np.allclose(lp, lp_base, atol=1e-3)


def test_batch_cond_replaces_the_one_hot_of_sid():
  """A batch's ``cond`` [B, C] is the conditioning chunk_cost uses: the
  one-hot of sid given as ``cond`` costs the same to the bit as sid alone,
  and another vector costs differently. Rules out ``cond`` being ignored
  (a variant's own conditioning silently replaced by the class)."""
  config = shrink(load("class_embedding"))
  config.n_classes = 3
  model = config_lib.build_model(config)
  params = jax.jit(lambda k: steps.init_params(model, k, config.seq_len))(jax.random.key(0))
  rng = np.random.default_rng(0)
  b, s = 2, model.frame_sizes[0]
  batch = {"chunk": jnp.asarray(rng.integers(0, 256, (b, config.seq_len + s)), jnp.int32),
           "mask": jnp.ones((b, config.seq_len)), "sid": jnp.array([0, 2], jnp.int32),
           "reset": jnp.ones((b,), bool)}
  h = steps.initial_rnn_state(model, params, b)
  cost = jax.jit(lambda batch: steps.chunk_cost(model, params, batch, h)[0])
  plain = cost(batch)
  same = cost(dict(batch, cond=jax.nn.one_hot(batch["sid"], 3)))
  other = cost(dict(batch, cond=jnp.full((b, 3), 1 / 3)))
  assert float(plain) == float(same) and abs(float(other) - float(plain)) > 1e-3
