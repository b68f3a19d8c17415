"""Operations per generated sample, read from the compiled sampler: one JSON row per setting.

  python benchmarks/sampler_ops.py                       # default config, both draw forms
  python benchmarks/sampler_ops.py --configs paper --unroll 1 --unroll 16

On a GPU every top-level operation of a while loop's body is (about) one
kernel launch a trip, so the operations of the sample step's loop are what
one generated stream pays per sample, whatever the FLOPs. This reads them
from the optimised HLO of ``sampling._generate_block`` (compiled for the
device it runs on, nothing executed): no profiler, no timing, so it runs on
a CPU too, where it counts XLA:CPU's operations (a proxy: the GPU fuses
differently).

Fields: config, batch, unroll, draws ('frame' or 'sample', as
``sample_speed.py --draws``), hidden1 (as ``--hidden1``), dtype (``--dtype``;
both since 2026-11-30), device, frame_loop {trips, ops, by_kind}: the
body of the loop over top frames (the outermost loop that runs a matmul;
the compiled block holds two top frames), ops_per_top_frame (its operations
plus those of every loop nested in it, times their trips: the sample steps'
loop, and on a CPU the threefry rounds of the random draws),
ops_per_sample (that over the top frame size S), all_trips_known (False:
some nested loop's trip count was unknown and counted as 1), inner_loops
(depth, trips and operations of the loops nested in it),
block_kernels_per_sample and block_bytes_per_sample (every kernel of the
compiled block, the code around the loops included, and the bytes they
move, over its 2 S samples: benchmarks/hlo_kernels.py),
block_roofline_us_per_sample (with --target: their time at the GPU's peak
rates, an estimate; since 2026-11-30), block_top (the block's ``--top``
kernels by roofline time, or by bytes without --target: launches in the
block, bytes and FLOPs per launch, the JAX operation each came from),
compiled_without_device (True with --target: XLA:GPU's program for that
GPU, no gemm autotuning, nothing run), date. What counts as an operation:
benchmarks/hlo_loops.py.
"""
from __future__ import annotations

import common
import deviceless
import hlo_kernels
import hlo_loops

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from samplernn_jax import cli
from samplernn_jax import config as config_lib
from samplernn_jax import sampling, steps

_CONFIGS = flags.DEFINE_string("configs", "default", "tiny, paper, default or config files")
_BATCH = flags.DEFINE_integer("batch", 1, "clips generated at once")
_UNROLL = flags.DEFINE_multi_integer("unroll", [1], "sampling.generate's unroll; may repeat")
_DRAWS = flags.DEFINE_multi_enum("draws", ["frame", "sample"], ["frame", "sample"],
                                 "sample_speed.py's --draws; may repeat")
_HIDDEN1 = flags.DEFINE_multi_enum("hidden1", ["folded"], ["folded", "matmul"],
                                   "sample_speed.py's --hidden1; may repeat")
_DTYPE = flags.DEFINE_enum("dtype", "", ["", "float32", "bfloat16"],
                           "compute dtype (config.dtype); '': the config's")
_TOP = flags.DEFINE_integer("top", 10, "the block's kernels listed in block_top")
_TARGET = flags.DEFINE_enum("target", "", ["", *deviceless.TARGETS],
                            "compile for this GPU without one (benchmarks/deviceless.py); "
                            "'': for this process's device")


def frame_loop(all_loops: list[dict]) -> dict:
  """The loop over top frames: the outermost loop that runs a matmul (in its
  body, its calls and fusions, or a loop nested in it)."""
  with_matmul = [l for l in all_loops if l["has_matmul"]]
  if not with_matmul:
    raise ValueError("no while loop with a matmul in the compiled sampler")
  return min(with_matmul, key=lambda l: l["depth"])


def sampler_hlo(model, params, batch: int, unroll: int, draws: str, device=None,
                hidden1: str = "folded") -> str:
  """The optimised HLO text of one block of two top frames of generation,
  compiled for ``device`` (default: this process's; or a target GPU's from
  deviceless.devices, compiled without one)."""
  fast, fast_params = sampling.prepare(model, params, hidden1 == "folded")
  variables = {"params": fast_params}
  vecs = jnp.asarray(np.eye(model.n_classes, dtype=np.float32)[np.arange(batch) % model.n_classes])
  carry = sampling.initial_carry(fast, variables, batch)
  forced = jnp.full((batch, 2 * fast.frame_sizes[0]), -1, jnp.int32)
  args = (variables, vecs, carry, forced, jax.random.key(0), jnp.float32(1.0), jnp.float32(1.0))
  if device is not None:
    args = deviceless.abstract(args, jax.sharding.SingleDeviceSharding(device))
  lowered = sampling._generate_block.lower(fast, *args, False, unroll, draws == "frame")
  return lowered.compile().as_text()


def row(name, model, params, batch, unroll, draws, device=None, target=None,
        hidden1="folded") -> dict:
  hlo = sampler_hlo(model, params, batch, unroll, draws, device, hidden1)
  all_loops = hlo_loops.loops(hlo)
  block = hlo_kernels.summary(hlo, target, top=_TOP.value)  # the whole block: 2 top frames
  frame = frame_loop(all_loops)
  nested, known = hlo_loops.nested_ops(frame, all_loops)
  per_frame = frame["ops"] + nested
  inside = [l for l in all_loops if hlo_loops.nested_in(l, frame, all_loops)]
  n = 2 * model.frame_sizes[0]  # samples in the block
  return {"config": name, "batch": batch, "unroll": unroll, "draws": draws, "hidden1": hidden1,
          "dtype": jnp.dtype(model.dtype).name,
          "device": device.device_kind if device is not None else common.device_kind(),
          "compiled_without_device": device is not None,
          "frame_loop": {k: frame[k] for k in ("trips", "ops", "by_kind")},
          "ops_per_top_frame": per_frame,
          "ops_per_sample": per_frame / model.frame_sizes[0],
          "all_trips_known": known,
          "block_kernels_per_sample": block["kernels"] / n,
          "block_bytes_per_sample": block["bytes"] / n,
          "block_roofline_us_per_sample": block["roofline_s"] / n * 1e6 if target else None,
          "block_top": block["top"],
          "inner_loops": [{k: l[k] for k in ("depth", "trips", "ops")} for l in inside],
          "date": common.today()}


def _run():
  # a target GPU's device, compiled for without one; this process's otherwise
  device = deviceless.devices(_TARGET.value)[0] if _TARGET.value else None
  for name in _CONFIGS.value.split(","):
    config, n_classes = common.load_config(name)
    config.dtype = _DTYPE.value or config.dtype
    model = config_lib.build_model(config, n_classes)
    params = steps.init_params(model, jax.random.key(0), config.seq_len)
    for hidden1 in _HIDDEN1.value:
      for draws in _DRAWS.value:
        for unroll in _UNROLL.value:
          common.emit(row(name, model, params, _BATCH.value, unroll, draws, device,
                          deviceless.TARGETS.get(_TARGET.value), hidden1))


def main(argv=None):
  """sampler_ops.py in this process (flags only; every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
