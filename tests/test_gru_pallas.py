"""The GRU frame loops in Pallas kernels (samplernn_jax/gru_pallas.py) against
``gru.gru_scan``'s XLA loops, which they replace under config.rnn_kernel='pallas'.

On this CPU the kernels run in Pallas' interpreter, so these tests check the
arithmetic and the loop around it; that the same code lowers to Triton
kernels for a GPU is checked by lowering for CUDA here, no GPU needed. Speed
is a GPU's to measure (benchmarks/train_speed.py --rnn_kernel), never here.
"""
import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, load_config_file, nested_eqns, random_batch
from samplernn_jax import config as config_lib, gru, gru_pallas, layers, steps

F, B, H = 5, 20, 32  # 20 rows: padded to 32 (two blocks of 16); 5 frames


def _inputs(seed=0, h=H):
  k = jax.random.split(jax.random.key(seed), 6)
  return (jax.random.normal(k[0], (h, 2 * h)) / h ** 0.5,
          jax.random.normal(k[1], (h, h)) / h ** 0.5,
          jax.random.normal(k[2], (F, B, 3 * h)),
          0.3 * jax.random.normal(k[3], (B, h)),
          jax.random.normal(k[4], (F, B, h)),    # d_hs
          jax.random.normal(k[5], (B, h)))       # d_last


# Two of the four (dtype, unroll) pairs: the remainder frames' code does not
# depend on the dtype, and each pair costs about 8 s of interpreted kernels.
# Hidden size 32 is one 32-wide block a third (z, r, c); 48 is three of 16,
# so a block's columns and the matmuls' inner blocks (bk) are placed by index.
@pytest.mark.parametrize("dtype,tol,unroll,h", [(jnp.float32, 1e-5, 3, H),
                                                (jnp.bfloat16, 1e-4, 1, 48)])
def test_pallas_gru_scan_equals_the_xla_scan(dtype, tol, unroll, h):
  """gru_scan(kernel='pallas') gives XLA's states (primal, without the
  backward's residuals, and under differentiation) within ``tol`` of the
  largest entry, and the gradients of a loss on both outputs (weights, xp,
  h0) within ``tol`` of each one's largest entry (measured: 5e-7 in float32,
  1.3e-5 in bf16 when first written, 1.3e-7 with jax 0.10.2 at hidden size
  48, the matmuls' sums in another order); 20 rows (padded to 32)
  and unroll 3 over 5 frames (a loop trip, then two frames after it); hidden
  size 48 in bf16 (three column and inner blocks of 16 a third, where 32 is
  one). Rules out a column block skipped (a grid of 2 gate columns, not
  2H / bn) or misplaced (da_c's c read at the first inner block's columns
  whatever the block), a gate misplaced, the candidate reading r rather than
  r h, a frame index off by one or run backwards, padding rows leaking into
  the result, the remainder frames skipped or repeated, the backward's
  third (da_c) or either weight's transpose wrong, and the cotangent of the
  last state dropped."""
  wg, wc, xp, h0, d_hs, d_last = _inputs(h=h)

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


MESH_CHILD = """
import json, os, sys
import jax, jax.numpy as jnp
from samplernn_jax import config as config_lib, gru, sharding, steps
sys.path.insert(0, os.path.join(sys.argv[1], "tests"))
from conftest import load_config_file, nested_eqns, random_batch
config = load_config_file(os.path.join(sys.argv[1], "configs", "tiny.py"))
config.n_classes, config.batch_size, config.seq_len = 4, 16, 64
config.dim, config.n_rnn = 16, 1  # the interpreter's time grows with both
batch = random_batch(config, seed=1)  # 16 rows: 4 a device
mesh = sharding.make_mesh()
n = jax.device_count()
out, results = {"devices": n}, {}
for rnn_kernel, sample_l1 in [("xla", "table_mm"), ("pallas", "table_pallas")]:
  config.rnn_kernel, config.sample_l1 = rnn_kernel, sample_l1
  model = config_lib.build_model(config)
  params = sharding.put_replicated(steps.init_params(model, jax.random.key(0), config.seq_len),
                                   mesh)

  def loss(p, batch):
    h0 = steps.initial_rnn_state(model, p, batch["sid"].shape[0])
    bits, count, _ = steps.chunk_cost(model, p, batch, h0)
    return bits / count
  fn = sharding.under_mesh(jax.jit(jax.value_and_grad(loss)), mesh)
  results[rnn_kernel] = fn(params, sharding.put_batch(batch, mesh))

  def kernel_operands(rows):  # the operand shapes of every kernel call
    eqns = nested_eqns(jax.make_jaxpr(jax.grad(loss))(
        params, {k: v[:rows] for k, v in batch.items()}).jaxpr)
    return sorted(str([v.aval.shape for v in e.invars]) for e in eqns
                  if e.primitive.name == "pallas_call")
  with jax.set_mesh(mesh):
    out[rnn_kernel] = kernel_operands(config.batch_size)
  out[rnn_kernel + "_one_device"] = kernel_operands(config.batch_size // n)
(lx, gx), (lp, gp) = results["xla"], results["pallas"]
out["loss_diff"] = abs(float(lx) - float(lp)) / abs(float(lx))
out["grad_diff"] = max(float(jnp.abs(a - b).max() / jnp.abs(a).max())
                       for a, b in zip(jax.tree.leaves(gx), jax.tree.leaves(gp)))
# a GRU's backward traced outside the mesh its forward was traced under
k = jax.random.split(jax.random.key(0), 4)
wg, wc = jax.random.normal(k[0], (32, 64)) / 6, jax.random.normal(k[1], (32, 32)) / 6
xp, h0 = jax.random.normal(k[2], (3, 8, 96)), jax.random.normal(k[3], (8, 32))
grads = {}
for kernel in ("xla", "pallas"):
  with jax.set_mesh(mesh):
    (hs, last), pullback = jax.vjp(lambda *a: gru.gru_scan(*a, jnp.float32, 1, kernel),
                                   wg, wc, xp, h0)
  grads[kernel] = pullback((hs, last))
out["vjp_diff"] = max(float(jnp.abs(a - b).max() / jnp.abs(a).max())
                      for a, b in zip(grads["xla"], grads["pallas"]))
try:  # a mesh of several devices whose batch axis is not called 'data'
  with jax.set_mesh(jax.sharding.Mesh(mesh.devices, ("batch",))):
    gru.gru_scan(wg, wc, xp, h0, jnp.float32, 1, "pallas")
except ValueError as e:
  out["no_data_axis"] = str(e)
print(json.dumps(out))
"""


def test_pallas_options_train_on_several_devices_as_xla(run_python):
  """On a mesh of 4 (fake CPU) devices, the tiny model's loss with
  rnn_kernel 'pallas' and sample_l1 'table_pallas' (dim 16, one layer) equals 'xla' and
  'table_mm''s within 1e-6 relative and every gradient within 1e-5 of its
  largest entry (measured: 0 and 2e-7; value_and_grad of the chunk cost,
  jitted and called through sharding.under_mesh as train.py's step is); in
  the traced program every kernel call gets the operands a lone device
  with its 4 of the 16 rows would (padded on its own), not the whole
  batch; a GRU's pullback called outside the mesh its forward was traced
  under gives XLA's gradients (1e-5); and a mesh whose batch axis is not
  'data' is refused, naming its axes. Rules out a kernel call that gathers
  the whole batch onto every device (XLA cannot split a call: compiled for
  two H200s, the GRU loops all-gathered their buffers each trip), the
  devices' partial weight or table gradients not added up (or added twice),
  and a backward that splits the rows otherwise than its forward did."""
  proc = run_python(["-c", MESH_CHILD, REPO], devices=4)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  out = json.loads(proc.stdout.strip().splitlines()[-1])
  assert out["devices"] == 4
  # one layer's 4 GRU kernels and the tables', each as an interpreter and a Triton branch
  assert out["xla"] == [] and len(out["pallas"]) == 10
  # what a lone device with 4 rows would pass, not the 16 rows of the batch
  assert out["pallas"] == out["pallas_one_device"]
  assert out["loss_diff"] <= 1e-6 and out["grad_diff"] <= 1e-5, out
  assert out["vjp_diff"] <= 1e-5, out
  assert "axes ('batch',)" in out["no_data_axis"] and "'data'" in out["no_data_axis"]
