"""The compiled train step's kernels, bytes and FLOPs, no clock: one JSON row per setting.

  python benchmarks/train_kernels.py --configs tiny                 # this device (XLA:CPU here)
  bash benchmarks/gpu_compile_env.sh                                # once, no GPU needed
  .venv-gpu-compile/bin/python benchmarks/train_kernels.py --target h200 \\
      --configs paper --batch_sizes 1024 --dtype bfloat16 --sample_l1 matmul --sample_l1 table_mm

Compiles ``steps.train_step`` exactly as train_speed.py does (jitted, sharded
over the 'data' mesh, state donated) and reads the optimised HLO with
benchmarks/hlo_kernels.py: nothing is run. With ``--target h100|h200`` the
step is compiled by XLA:GPU for that GPU on a machine without one
(benchmarks/deviceless.py), so a CPU-only session sees the GPU's own
fusions, its kernel count and the bytes each kernel moves; the gemm
autotuner needs a device, so each gemm keeps its default backend there.

Fields: config, batch_size, seq_len, dtype, sample_l1, grad_matmuls,
loss_grad, rnn_grad, relu_grad, rnn_unroll, rnn_kernel (as train_speed.py),
target (the GPU compiled for, or this device's kind), devices
(``--devices``: the program is one device's, its batch the global batch over
them, collectives included as kernels), jax, kernels_per_step (kernel
launches of one step, loop trips multiplied out), bytes_per_step,
matmul_flops_per_step, roofline_s (the sum of every kernel's max(bytes / HBM
bandwidth, FLOPs / peak): the step at the device's peak rates, launch costs
and caches aside, an estimate and not a floor; targets only),
roofline_samples_per_s, by_kind (kernels, bytes, FLOPs and roofline time of
gemm, elementwise, reduction, scatter, ... kernels: hlo_kernels.py's kinds),
top (the ``--top`` kernels by roofline time, or by bytes without a target:
launches, bytes and FLOPs per launch, roofline time of all launches, the JAX
operation each came from), counts_exact (no unknown loop trip count or
conditional), unread_dots (dots whose FLOPs could not be read; 0 expected),
date. "Compiled without a device" (``--target``): XLA:GPU's own program for
that GPU, but with no gemm autotuning (each gemm keeps its backend's
default) and nothing run or measured.
"""
import functools
import os

import baselines
import common
import deviceless
import hlo_kernels

import jax
import numpy as np
from absl import app, flags
from jax.sharding import Mesh

from samplernn_jax import batches, cli, config as config_lib, sharding, steps

_CONFIGS = flags.DEFINE_string("configs", "tiny", "tiny, paper, default or config file paths")
_BATCH_SIZES = flags.DEFINE_string("batch_sizes", "", "comma list; default: the config's")
_SEQ_LEN = flags.DEFINE_integer("seq_len", 0, "override config.seq_len")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "config.dtype")
_SAMPLE_L1 = flags.DEFINE_multi_enum(
    "sample_l1", ["matmul"], ["matmul", "table", "table_mm", "table_pallas"],
    "config.sample_l1; may repeat")
_FORMS = baselines.define_flags()  # as train_speed.py; each may repeat
_RNN_UNROLL = flags.DEFINE_multi_integer("rnn_unroll", [1], "config.rnn_unroll; may repeat")
_RNN_KERNEL = flags.DEFINE_multi_enum("rnn_kernel", ["xla"], ["xla", "pallas"],
                                      "config.rnn_kernel; may repeat")
_DEVICES = flags.DEFINE_integer("devices", 1, "with --target: compile for this many of its GPUs "
                                "on one host, the batch split over them")
_TARGET = flags.DEFINE_enum("target", "", ["", *deviceless.TARGETS],
                            "compile for this GPU without one ('': this process's device)")
_TOP = flags.DEFINE_integer("top", 10, "kernels listed in 'top'")
_SAVE_HLO = flags.DEFINE_string("save_hlo", "", "also write each optimised HLO to this folder")


def abstract_batch(config, mesh: Mesh) -> dict:
  """The shapes of one training batch, split along the 'data' mesh."""
  spec = batches.batch_spec(config.batch_size, config.seq_len,
                            config_lib.frame_sizes(config)[0])
  return deviceless.abstract({k: jax.ShapeDtypeStruct(*v) for k, v in spec.items()},
                             sharding.batch_sharded(mesh))


def step_hlo(config, n_classes: int, mesh: Mesh, form=None) -> str:
  """The optimised HLO text of one train step compiled for ``mesh``'s devices,
  traced with ``form``'s earlier pieces ({piece: kind}, baselines.PIECES)."""
  model = config_lib.build_model(config, n_classes)
  tx = steps.make_optimizer(config)
  sharding.check_batch_size(config.batch_size, mesh)
  state = jax.eval_shape(lambda: steps.init_state(model, tx, jax.random.key(0),
                                                  config.batch_size, config.seq_len))
  st_sh = sharding.train_state_sharding(state, mesh)
  state = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                       state, st_sh)
  fn = functools.partial(steps.train_step, model, tx)  # a fresh callable: traced below
  with baselines.traced_as(form or {}), jax.set_mesh(mesh):  # traced as train.py's step
    lowered = jax.jit(fn, out_shardings=st_sh, donate_argnums=0).lower(
        state, abstract_batch(config, mesh))
  return lowered.compile().as_text()


def row(name, config, n_classes, mesh, target, form) -> dict:
  form = baselines.complete(form)
  hlo = step_hlo(config, n_classes, mesh, form)
  if _SAVE_HLO.value:
    os.makedirs(_SAVE_HLO.value, exist_ok=True)
    path = os.path.join(_SAVE_HLO.value, f"{name}_b{config.batch_size}_{config.dtype}_"
                        f"{config.sample_l1}_{'_'.join(form.values())}_u{config.rnn_unroll}_"
                        f"{config.rnn_kernel}.hlo")
    with open(path, "w") as f:
      f.write(hlo)
  spec = deviceless.TARGETS.get(target)
  s = hlo_kernels.summary(hlo, spec, _TOP.value)
  samples = config.batch_size * config.seq_len
  return {"config": name, "batch_size": config.batch_size, "seq_len": config.seq_len,
          "dtype": config.dtype, "sample_l1": config.sample_l1, **form,
          "rnn_unroll": config.rnn_unroll, "rnn_kernel": config.rnn_kernel,
          "target": spec["name"] if spec else common.device_kind(),
          "devices": mesh.devices.size, "jax": jax.__version__,
          "kernels_per_step": s["kernels"], "bytes_per_step": s["bytes"],
          "matmul_flops_per_step": s["matmul_flops"],
          "roofline_s": s.get("roofline_s"),
          "roofline_samples_per_s": samples / s["roofline_s"] if spec else None,
          "by_kind": s["by_kind"], "top": s["top"], "counts_exact": s["counts_exact"],
          "unread_dots": s["unread_dots"],
          "date": common.today()}


def _run():
  target = _TARGET.value
  if _DEVICES.value != 1 and not target:
    raise ValueError("--devices: only with --target (this process compiles for its own devices)")
  devs = deviceless.devices(target, _DEVICES.value) if target else jax.devices()
  mesh = Mesh(np.array(devs), ("data",))
  for name in _CONFIGS.value.split(","):
    config, n_classes = common.load_config(name)
    config.dtype = _DTYPE.value
    if _SEQ_LEN.value:
      config.seq_len = _SEQ_LEN.value
    for bs in (_BATCH_SIZES.value or str(config.batch_size)).split(","):
      config.batch_size = int(bs)
      for l1, form, unroll, kernel in baselines.settings(
          _SAMPLE_L1.value, _FORMS, _RNN_UNROLL.value, _RNN_KERNEL.value):
        config.sample_l1, config.rnn_unroll, config.rnn_kernel = l1, unroll, kernel
        common.emit(row(name, config, n_classes, mesh, target, form))


def main(argv=None):
  """train_kernels.py in this process (flags only; every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
