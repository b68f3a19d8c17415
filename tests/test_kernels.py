"""Pallas kernels (samplernn_jax/kernels.py) against the XLA code they replace.

The kernels run in Pallas' interpreter on the CPU, so these tests check the
arithmetic; that a kernel also lowers to a GPU (Triton) kernel is checked by
lowering it for CUDA on this machine, no GPU needed. Speed is measured on a
GPU by benchmarks/train_speed.py (``--sample_l1 table_pallas``), never here.
"""
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, bf16_rounded, subprocess_env
from samplernn_jax import kernels


@pytest.mark.parametrize("n, s, q, h, block_h", [
    (300, 4, 10, 24, 64),      # every size padded: N to 384, Q to 16, H to 64
    (1000, 3, 256, 96, 32),    # the paper's Q; three column blocks
])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_one_hot_grad_equals_the_one_hot_matmul(n, s, q, h, block_h, dtype):
  """kernels.one_hot_grad equals one_hot(idx)^T g written out in float64 on
  the dtype-rounded g (the one-hot is exact), within float32 accumulation
  error (1e-5 of the largest entry), on fresh random indices and g. Rules out
  blocks of rows or columns skipped or counted twice, a one-hot over the
  wrong axis, table positions swapped or collapsed, and g not rounded to
  the stated dtype (bf16 off by ~4e-3)."""
  r = np.random.default_rng(n + q)
  idx = r.integers(0, q, (n, s)).astype(np.int32)
  g = r.normal(size=(n, h)).astype(np.float32)
  out = kernels.one_hot_grad(jnp.asarray(idx), jnp.asarray(g), q, dtype, block_h=block_h)
  assert out.shape == (s, q, h) and out.dtype == jnp.float32
  gr = bf16_rounded(g) if dtype == jnp.bfloat16 else g.astype(np.float64)
  ref = np.einsum("nsq,nh->sqh", np.eye(q)[idx], gr)
  np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_one_hot_grad_lowers_to_one_triton_kernel_for_a_gpu():
  """Lowered for CUDA (on this CPU machine: jax lowers for a platform it
  does not run), the paper-sized gradient is one Triton kernel call, not the
  interpreter's XLA loop, and so is one of 100 levels (Q padded to 128).
  Rules out a kernel that only runs interpreted, e.g. one that loads a
  block Triton cannot (a side not a power of two: Q padded to 16 at least
  but not to a power of two, which 256 levels would not show)."""
  idx = jax.ShapeDtypeStruct((1024 * 64, 16), jnp.int32)
  g = jax.ShapeDtypeStruct((1024 * 64, 1024), jnp.bfloat16)
  fn = jax.jit(lambda i, x: kernels.one_hot_grad(i, x, 256, jnp.bfloat16, interpret=False))
  text = fn.trace(idx, g).lower(lowering_platforms=("cuda",)).as_text()
  assert re.findall(r"custom_call @(\S+)\(", text) == ["__gpu$xla.gpu.triton"]
  small = (jax.ShapeDtypeStruct((1024, 16), jnp.int32),
           jax.ShapeDtypeStruct((1024, 256), jnp.bfloat16))
  fn = jax.jit(lambda i, x: kernels.one_hot_grad(i, x, 100, jnp.bfloat16, interpret=False))
  text = fn.trace(*small).lower(lowering_platforms=("cuda",)).as_text()
  assert re.findall(r"custom_call @(\S+)\(", text) == ["__gpu$xla.gpu.triton"]
  # the check itself can fail: a 100-row block, refused by Triton's lowering
  with pytest.raises(ValueError, match="power of 2"):
    jax.jit(lambda i, x: kernels.one_hot_grad(i, x, 256, jnp.bfloat16, block_n=100,
                                              interpret=False)
            ).trace(idx, g).lower(lowering_platforms=("cuda",))


def test_one_hot_grad_default_follows_the_platform_compiled_for():
  """With ``interpret`` left at its default, the kernel is chosen when the
  program is lowered: the Triton kernel for CUDA, the interpreter (no Triton
  call) for a CPU, from the same trace on this CPU machine. Rules out the
  choice made at trace time from ``jax.default_backend()`` (the code before
  2026-11-30), which put the interpreter's loops into a program compiled for
  a GPU from a machine without one (benchmarks/deviceless.py: 12 M kernels a
  step instead of one call)."""
  idx = jax.ShapeDtypeStruct((1024, 16), jnp.int32)
  g = jax.ShapeDtypeStruct((1024, 256), jnp.bfloat16)
  traced = jax.jit(lambda i, x: kernels.one_hot_grad(i, x, 256, jnp.bfloat16)).trace(idx, g)
  calls = lambda platform: re.findall(
      r"custom_call @(\S+)\(", traced.lower(lowering_platforms=(platform,)).as_text())
  assert calls("cuda") == ["__gpu$xla.gpu.triton"]
  assert "__gpu$xla.gpu.triton" not in calls("cpu")


BLOCK_TRITON = r"""
import sys
class NoTriton:  # a jax without Pallas' Triton backend (deprecated in jax 0.11)
  def find_spec(self, name, path=None, target=None):
    if name == "jax.experimental.pallas.triton" or name.startswith("jax._src.pallas.triton"):
      raise ImportError(f"no {name} in this jax")
sys.meta_path.insert(0, NoTriton())
from samplernn_jax import gru_pallas, kernels, sampling, trainer  # noqa: F401
print("imported", kernels.triton_params())
"""


def test_the_library_imports_without_pallas_triton_backend():
  """Importing the library (trainer, sampler, both Pallas kernel modules)
  does not import Pallas' Triton backend, which jax 0.11 deprecates: a jax
  without it still trains and samples on the XLA paths, the defaults.
  Rules out the module-level import and CompilerParams that would make
  every entry point fail at import on such a jax."""
  p = subprocess.run([sys.executable, "-c", BLOCK_TRITON], cwd=REPO, env=subprocess_env(),
                     capture_output=True, text=True, timeout=300)
  assert p.returncode == 0 and "imported None" in p.stdout, p.stderr[-3000:]
