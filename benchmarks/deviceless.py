"""XLA:GPU compilation for an H100 or H200 on a machine without a GPU.

JAX compiles for a GPU described by a target config (the device's limits
and bandwidth, XLA's ``GpuTargetConfig``) when its CUDA plugin is installed,
even where no GPU or CUDA library is present: the compiled program's
optimised HLO is then exactly what XLA:GPU would run, its fusions, library
calls and loops included (nothing is run). The gemm autotuner needs a device,
so each gemm keeps the default choice of its backend. ``bash
benchmarks/gpu_compile_env.sh`` makes ``.venv-gpu-compile``, this
environment plus the plugin (about 0.5 GB; the NVIDIA libraries are not
needed). No flags here: train_kernels.py and sampler_ops.py import it.

Before anything else touches a JAX backend, ``devices(target)`` pins JAX to
the CPU and returns the target GPU's (abstract) devices; ``abstract(tree,
sharding)`` turns arrays into shapes placed on them, which ``jit(...).lower``
takes in place of arrays.
"""
from __future__ import annotations

import jax

# Vendor figures (dense, no sparsity); float32 matmuls run as TF32 under
# JAX's default precision on these GPUs. Used for roofline times.
TARGETS = {
    "h100": {"name": "NVIDIA H100 80GB HBM3", "bf16_flops": 989e12, "f32_flops": 495e12,
             "bytes_per_s": 3.35e12, "memory_bytes": 84_929_347_584},
    "h200": {"name": "NVIDIA H200", "bf16_flops": 989e12, "f32_flops": 495e12,
             "bytes_per_s": 4.8e12, "memory_bytes": 150_110_011_392},
}

# XLA's GpuTargetConfig (text proto) of a Hopper GPU with 132 SMs; the
# per-target fields are filled in from TARGETS.
_CONFIG = """
gpu_device_info {{
  threads_per_block_limit: 1024
  threads_per_warp: 32
  shared_memory_per_block: 49152
  shared_memory_per_core: 233472
  threads_per_core_limit: 2048
  core_count: 132
  fpus_per_core: 128
  block_dim_limit_x: 2147483647
  block_dim_limit_y: 65535
  block_dim_limit_z: 65535
  memory_bandwidth: {bytes_per_s:.0f}
  l2_cache_size: 52428800
  clock_rate_ghz: 1.98
  device_memory_size: {memory_bytes}
  shared_memory_per_block_optin: 232448
  cuda_compute_capability {{ major: 9 }}
  registers_per_core_limit: 65536
  registers_per_block_limit: 65536
}}
platform_name: "CUDA"
dnn_version_info {{ major: 9 minor: 7 }}
runtime_version {{ major: 12 minor: 8 patch: 0 }}
device_description_str: "{name}"
"""

INSTALL = "bash benchmarks/gpu_compile_env.sh, then run with .venv-gpu-compile/bin/python"


def target_config(target: str) -> str:
  if target not in TARGETS:
    raise ValueError(f"target {target!r}: expected one of {sorted(TARGETS)}")
  return _CONFIG.format(**TARGETS[target])


def devices(target: str, n: int = 1) -> list:
  """The devices of ``n`` ``target`` GPUs of one host, for compiling only. Call
  before any other JAX work: it pins this process's JAX backend to the CPU."""
  from jax.experimental import topologies
  config = target_config(target)
  jax.config.update("jax_platforms", "cpu")
  try:
    topo = topologies.get_topology_desc(platform="cuda", target_config=config,
                                        topology=f"1x1x{n}")
  except Exception as e:  # most often no CUDA plugin: jax names the platform it lacks
    raise RuntimeError(
        f"compiling for {target} without a GPU needs jax's CUDA plugin at jax's version "
        f"(jax-cuda12-plugin=={jax.__version__}); jax said: {e}. To install it: {INSTALL}"
    ) from e
  return list(topo.devices)


def abstract(tree, sharding):
  """Arrays (or shapes) -> ``jax.ShapeDtypeStruct`` placed by ``sharding``."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
                      tree)
