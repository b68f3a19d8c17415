"""The GRU frame loops in Pallas kernels (samplernn_jax/gru_pallas.py) against
``gru.gru_scan``'s XLA loops, which they replace under config.rnn_kernel='pallas'.

On this CPU the kernels run in Pallas' interpreter, so these tests check the
arithmetic and the loop around it; that the same code lowers to Triton
kernels for a GPU is checked by lowering for CUDA here, no GPU needed. Speed
is a GPU's to measure (benchmarks/train_speed.py --rnn_kernel), never here.
"""
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, load_config_file, nested_eqns, random_batch
from samplernn_jax import config as config_lib, gru, gru_pallas, layers, steps

F, B, H = 5, 20, 32  # 20 rows: padded to 32 (two blocks of 16); 5 frames


def _inputs(seed=0):
  k = jax.random.split(jax.random.key(seed), 6)
  return (jax.random.normal(k[0], (H, 2 * H)) / H ** 0.5,
          jax.random.normal(k[1], (H, H)) / H ** 0.5,
          jax.random.normal(k[2], (F, B, 3 * H)),
          0.3 * jax.random.normal(k[3], (B, H)),
          jax.random.normal(k[4], (F, B, H)),    # d_hs
          jax.random.normal(k[5], (B, H)))       # d_last


@pytest.mark.parametrize("dtype,tol", [(jnp.float32, 1e-5), (jnp.bfloat16, 1e-4)])
@pytest.mark.parametrize("unroll", [1, 3])
def test_pallas_gru_scan_equals_the_xla_scan(dtype, tol, unroll):
  """gru_scan(kernel='pallas') gives XLA's states (primal, without the
  backward's residuals, and under differentiation) within ``tol`` of the
  largest entry, and the gradients of a loss on both outputs (weights, xp,
  h0) within ``tol`` of each one's largest entry (measured: 5e-7 in float32,
  1.3e-5 in bf16, the matmuls' sums in another order); 20 rows (padded to 32)
  and unroll 3 over 5 frames (a loop trip, then two frames after it). Rules
  out a gate or column block misplaced, the candidate reading r rather than
  r h, a frame index off by one or run backwards, padding rows leaking into
  the result, the remainder frames skipped or repeated, the backward's
  third (da_c) or either weight's transpose wrong, and the cotangent of the
  last state dropped."""
  wg, wc, xp, h0, d_hs, d_last = _inputs()

  def loss(kernel):
    def f(wg, wc, xp, h0):
      hs, last = gru.gru_scan(wg, wc, xp, h0, dtype, unroll, kernel)
      return jnp.sum(hs * d_hs) + jnp.sum(last * d_last), (hs, last)
    return jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2, 3), has_aux=True))

  (_, (hs, last)), grads = loss("xla")(wg, wc, xp, h0)
  (_, (hs_p, last_p)), grads_p = loss("pallas")(wg, wc, xp, h0)
  primal = jax.jit(lambda *a: gru.gru_scan(*a, dtype, unroll, "pallas"))(wg, wc, xp, h0)
  for ref, got in [(hs, hs_p), (last, last_p), (hs, primal[0]), (last, primal[1])]:
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol * np.abs(ref).max())
  for ref, got in zip(grads, grads_p):
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol * np.abs(ref).max())


def test_pallas_gru_lowers_to_four_triton_kernels_a_frame_for_a_gpu():
  """The differentiated layer lowered for CUDA (on this CPU machine) calls
  only Triton kernels in its frame loops: two forward and two backward with
  unroll 1, and with unroll 2 over 5 frames 2 x 2 in the loop plus 2 after
  it, each way; lowered for the CPU, none (the interpreter). Rules out a
  kernel only the interpreter can run (a block side Triton cannot load),
  the interpreter put into a GPU program, and unrolled or remainder frames
  that call the kernels too few or too many times."""
  wg, wc, xp, h0, d_hs, _ = _inputs()

  def grad_fn(unroll):
    return jax.jit(jax.grad(lambda *a: jnp.sum(
        gru.gru_scan(*a, jnp.bfloat16, unroll, "pallas")[0] * d_hs), argnums=(0, 1, 2, 3)))

  def calls(unroll, platform):
    text = grad_fn(unroll).trace(wg, wc, xp, h0).lower(lowering_platforms=(platform,)).as_text()
    return re.findall(r"custom_call @(\S+)\(", text)
  assert calls(1, "cuda") == ["__gpu$xla.gpu.triton"] * 4
  assert calls(2, "cuda") == ["__gpu$xla.gpu.triton"] * 12
  assert calls(1, "cpu") == []


def test_blocks_and_the_sizes_the_kernels_take():
  """gru_pallas.blocks: powers of two of at least 16 that divide the hidden
  size, 16-row blocks for small batches and 64 for the paper model at batch 1024;
  a hidden size that is no multiple of 16 is refused with the config key,
  and so is an LSTM (by the config, the layer, and check_choice for a
  misspelt kernel). Rules out blocks a Triton dot cannot take, and a setting
  that would fail inside a kernel's lowering instead of naming the key."""
  assert gru_pallas.blocks(8, 1024) == (16, 64, 64)
  assert gru_pallas.blocks(128, 1024) == (32, 64, 64)
  assert gru_pallas.blocks(1024, 1024) == (64, 64, 64)
  assert gru_pallas.blocks(128, 48) == (32, 16, 16)
  with pytest.raises(ValueError, match="multiple of 16; got 40"):
    gru_pallas.blocks(128, 40)
  config = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  config.n_classes, config.rnn_kernel = 3, "pallas"
  config_lib.validate(config)
  for key, value, message in [("dim", 40, "config.rnn_kernel='pallas' runs GRU layers"),
                              ("rnn_type", "LSTM", "got rnn_type 'LSTM'"),
                              ("rnn_kernel", "triton", "config.rnn_kernel='triton'")]:
    bad = config.copy_and_resolve_references()
    bad[key] = value
    with pytest.raises(ValueError, match=re.escape(message)):
      config_lib.validate(bad)
  x, s0 = jnp.zeros((2, 3, 4)), jnp.zeros((2, 32))
  with pytest.raises(ValueError, match=re.escape("RNNLayer.kernel='pallas'")):
    layers.RNNLayer(32, "LSTM", kernel="pallas").init(jax.random.key(0), x, s0)


def test_the_tiny_model_trains_the_same_with_pallas_gru_loops():
  """The tiny config's training loss (two GRU layers over 16 frames, from
  the initial state) with rnn_kernel 'pallas' equals 'xla''s within 1e-6
  and its gradient within 1e-5 of each parameter's largest entry (measured:
  equal loss, 3e-7), and its jaxpr calls the kernels in both layers' loops
  (forward and backward: 8 kernel calls, each as a Triton and an
  interpreter branch) where 'xla''s calls none. Rules out the option not
  passed down from the config to the layers, and a kernel path that
  differs inside the whole model (several layers, the learned h0, the tiers
  above and below)."""
  config = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  config.n_classes, config.batch_size = 4, 2
  batch = random_batch(config, seed=1)
  out = []
  for kernel in ("xla", "pallas"):
    config.rnn_kernel = kernel
    model = config_lib.build_model(config)
    params = steps.init_params(model, jax.random.key(0), config.seq_len)

    def loss(p):
      bits, count, _ = steps.chunk_cost(model, p, batch, steps.initial_rnn_state(model, p, 2))
      return bits / count
    out.append(jax.jit(jax.value_and_grad(loss))(params))
    jaxpr = jax.make_jaxpr(jax.grad(loss))(params).jaxpr
    kernels = [e for e in nested_eqns(jaxpr) if e.primitive.name == "pallas_call"]
    assert len(kernels) == (16 if kernel == "pallas" else 0), (kernel, len(kernels))
  (loss_x, grads_x), (loss_p, grads_p) = out
  np.testing.assert_allclose(loss_p, loss_x, rtol=1e-6)
  for x, y in zip(jax.tree.leaves(grads_x), jax.tree.leaves(grads_p)):
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-5 * np.abs(x).max())


def test_the_sampler_steps_frames_with_xla_whatever_trained_the_model():
  """sampling.prepare gives a model trained with rnn_kernel 'pallas' XLA's
  GRU step: the sampler runs one frame at a time, where the frame loops'
  kernels save nothing, and a model trained on a GPU and sampled on a CPU
  would otherwise run Pallas' interpreter there; the tier's jaxpr then calls
  no kernel. Rules out the training option leaking into generation."""
  from samplernn_jax import sampling
  config = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  config.n_classes, config.rnn_kernel = 4, "pallas"
  model = config_lib.build_model(config)
  params = steps.init_params(model, jax.random.key(0), config.seq_len)
  fast, fast_params = sampling.prepare(model, params)
  assert (model.rnn_kernel, fast.rnn_kernel) == ("pallas", "xla")
  frames = jnp.zeros((2, 1, config.frame_size), jnp.int32)
  cond = jnp.eye(4)[:2]

  def tier(m):
    return lambda p, h: m.apply({"params": p}, 0, frames, None, cond, h,
                                method=type(m).tier)
  h = model.apply({"params": params}, 2, method=type(model).initial_state)
  for m, p, calls in [(model, params, 8), (fast, fast_params, 0)]:
    eqns = nested_eqns(jax.make_jaxpr(tier(m))(p, h[0]).jaxpr)
    assert sum(e.primitive.name == "pallas_call" for e in eqns) == calls


def test_pallas_options_are_refused_on_several_devices():
  """config.check_devices (train.py's setup) refuses rnn_kernel 'pallas' and
  sample_l1 'table_pallas' on a mesh of more than one device, naming both
  keys, and passes them on one device and the XLA forms on eight. Rules out
  a multi-GPU run that silently gathers the whole batch onto every device
  in every frame (compiled for two H200s: all-gathers in each loop trip)."""
  config = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  config_lib.check_devices(config, 8)
  config.rnn_kernel, config.sample_l1 = "pallas", "table_pallas"
  config_lib.check_devices(config, 1)
  with pytest.raises(ValueError, match=re.escape(
      "config.rnn_kernel='pallas' and config.sample_l1='table_pallas': Pallas kernels run "
      "on one device, not on this mesh of 2 devices")):
    config_lib.check_devices(config, 2)
  config.rnn_kernel = "xla"
  with pytest.raises(ValueError, match=r"^config.sample_l1='table_pallas': ") as err:
    config_lib.check_devices(config, 2)
  assert "rnn_kernel" not in str(err.value)  # the hint names only what was chosen
