"""Training speed: one JSON object per setting on stdout.

  python benchmarks/train_speed.py                      # tiny and paper configs
  python benchmarks/train_speed.py --configs paper --batch_sizes 32,128 --dtype bfloat16
  python benchmarks/train_speed.py --configs tiny --baseline   # + eager (un-jitted) step

Each object: config, batch_size, seq_len, dtype, sample_l1, grad_matmuls
(``--grad_matmuls``: how a bf16 step's backward matmuls run), loss_grad
(``--loss_grad``: the loss's gradient as written or autodiff's), rnn_grad
(``--rnn_grad``: the GRU scans' gradient as written or autodiff's),
relu_grad (``--relu_grad``: the sample tier's bf16 ReLUs as written or
autodiff's; benchmarks/baselines.py has each piece's forms), rnn_unroll
(``--rnn_unroll``: frame steps per iteration of the RNN scans), rnn_kernel
(``--rnn_kernel``: the GRU frame loops in XLA's kernels or gru_pallas'), devices,
device_kind, compile_s, step_s (median after warm-up), samples_per_s,
model_flops_per_sample (analytic: 3 x the forward matmuls, see
common.train_flops_per_sample; about 52 M for the paper model), mfu (model
FLOPs per second over the device's dense peak, when known), xla_flops_per_step
(XLA's cost analysis of the compiled step: every operation, not only matmuls),
xla_bytes_per_step (the same analysis' bytes accessed: memory traffic as XLA
counts it, before caches),
device_matmul_flops_per_s (this device's own square matmul, 1024 a side on
a CPU, 8192 elsewhere, measured in the same run: common.matmul_flops_per_s)
and fraction_of_matmul (model
FLOP/s over it: the physical reference of a CPU row, where no peak is known),
peak_memory_bytes (device memory on GPU; process RSS on CPU; the process's
peak so far, so a row after a larger one shows the larger one's),
temp_bytes (the compiled step's scratch memory by XLA's buffer assignment:
the row's own), train_bits (the mean cost of the warm-up and timed steps, all
on one batch from the same start: the forms of a setting agree to rounding;
null when every step was non-finite) and nonfinite_step (-1, or the first
step whose loss or gradient was not finite), date. A setting that raises gives a row with its ``error`` instead;
the others still run, and the script exits 1 at the end.
With ``--baseline``: eager_step_s and speedup_vs_eager, measured in the same run.
Random data and freshly initialised parameters; the step is the real
``steps.train_step``, jitted and sharded over every device as in training.
"""
import functools
import statistics
import time

import baselines
import common
import jax
from absl import app, flags

from samplernn_jax import cli, config as config_lib, sharding, steps

_CONFIGS = flags.DEFINE_string("configs", "tiny,paper",
                               "tiny, paper, default or config file paths")
_BATCH_SIZES = flags.DEFINE_string("batch_sizes", "", "comma list; default per config")
_SEQ_LEN = flags.DEFINE_integer("seq_len", 0, "override config.seq_len")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "compute dtype")
_SAMPLE_L1 = flags.DEFINE_multi_enum(
    "sample_l1", ["matmul"], ["matmul", "table", "table_mm", "table_pallas"],
    "sample tier's first layer (config.sample_l1); repeat the flag to measure "
    "several forms in one run")
_FORMS = baselines.define_flags()  # --grad_matmuls, --loss_grad, --rnn_grad, --relu_grad
_RNN_UNROLL = flags.DEFINE_multi_integer(
    "rnn_unroll", [1], "config.rnn_unroll: frame steps per iteration of the RNN scans "
    "(fewer loop trips, the same function); repeat the flag to compare in one run")
_RNN_KERNEL = flags.DEFINE_multi_enum(
    "rnn_kernel", ["xla"], ["xla", "pallas"], "config.rnn_kernel: the GRU frame loops in "
    "XLA's kernels or gru_pallas' (a GPU's; Pallas' interpreter on a CPU); may repeat "
    "(with --rnn_grad autodiff only xla: autodiff's form has XLA's loops)")
_STEPS = flags.DEFINE_integer("steps", 10, "timed steps per setting")
_BASELINE = flags.DEFINE_bool("baseline", False, "also time the eager step")
_PROFILE = flags.DEFINE_string(
    "profile", "", "write a jax.profiler trace of the timed steps to this folder "
    "(open with TensorBoard's profile plugin or Perfetto)")

# Dense peak FLOP/s by device kind and matmul dtype (vendor figures). float32
# matmuls run as TF32 under JAX's default precision on these GPUs, so their
# peak is TF32's.
PEAK_FLOPS = {
    ("NVIDIA H100 80GB HBM3", "bfloat16"): 989e12,
    ("NVIDIA H100 80GB HBM3", "float32"): 495e12,
    ("NVIDIA H200", "bfloat16"): 989e12,
    ("NVIDIA H200", "float32"): 495e12,
}


def peak_memory():
  dev = jax.devices()[0]
  stats = dev.memory_stats() if hasattr(dev, "memory_stats") else None
  if stats and "peak_bytes_in_use" in stats:
    return int(stats["peak_bytes_in_use"])
  try:
    import resource
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
  except Exception:
    return None


def compiled_temp_bytes(compiled):
  """The step's own scratch memory by XLA's buffer assignment: unlike
  peak_memory (the process's peak, never reset), it belongs to this row."""
  try:
    return int(compiled.memory_analysis().temp_size_in_bytes)
  except Exception:  # a backend without the analysis
    return None


def measure(config, n_classes, n_steps, baseline, profile="", form=None):
  """One row; ``form`` ({piece: kind}, baselines.PIECES) names the earlier
  forms to trace the step with (default: the library's)."""
  form = baselines.complete(form)
  model = config_lib.build_model(config, n_classes)
  tx = steps.make_optimizer(config)
  mesh = sharding.make_mesh()
  sharding.check_batch_size(config.batch_size, mesh)
  b = config.batch_size
  state = steps.init_state(model, tx, jax.random.key(0), b, config.seq_len)
  batch = common.random_batch(config, n_classes)
  dev_batch = sharding.put_batch(batch, mesh)
  data_sh = sharding.batch_sharded(mesh)
  st_sh = sharding.train_state_sharding(state, mesh)
  state = jax.device_put(state, st_sh)
  fn = functools.partial(steps.train_step, model, tx)
  jitted = jax.jit(fn, in_shardings=(st_sh, data_sh), out_shardings=st_sh, donate_argnums=0)
  t0 = time.perf_counter()
  with baselines.traced_as(form), jax.set_mesh(mesh):  # traced as train.py's step
    compiled = jitted.lower(state, dev_batch).compile()
  compile_s = time.perf_counter() - t0
  try:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    flops = float(cost.get("flops", 0.0)) or None
    bytes_accessed = float(cost.get("bytes accessed", 0.0)) or None
  except Exception:
    flops = bytes_accessed = None
  temp_bytes = compiled_temp_bytes(compiled)
  for _ in range(2):  # warm-up
    state = compiled(state, dev_batch)
  jax.block_until_ready(state)
  times = []
  if profile:
    jax.profiler.start_trace(profile)
  for _ in range(n_steps):
    t = time.perf_counter()
    state = compiled(state, dev_batch)
    jax.block_until_ready(state.step)
    times.append(time.perf_counter() - t)
  if profile:
    jax.profiler.stop_trace()
  step_s = statistics.median(times)
  kind = common.device_kind()
  peak = PEAK_FLOPS.get((kind, config.dtype))
  model_flops = common.train_flops_per_sample(config, n_classes)
  samples_per_s = b * config.seq_len / step_s
  matmul = common.matmul_flops_per_s(config.dtype)  # this device, this run
  out = {
      "batch_size": b, "seq_len": config.seq_len, "dtype": config.dtype,
      "sample_l1": config.sample_l1,
      **form,
      "rnn_unroll": config.rnn_unroll, "rnn_kernel": config.rnn_kernel,
      "devices": len(jax.devices()), "device_kind": kind,
      "compile_s": round(compile_s, 3), "step_s": step_s,
      "samples_per_s": samples_per_s, "model_flops_per_sample": model_flops,
      "mfu": (common.fraction_of(model_flops, samples_per_s, peak, len(jax.devices()))
              if peak else None),
      "device_matmul_flops_per_s": matmul,
      "fraction_of_matmul": common.fraction_of(model_flops, samples_per_s, matmul,
                                               len(jax.devices())),
      "xla_flops_per_step": flops, "xla_bytes_per_step": bytes_accessed,
      "peak_memory_bytes": peak_memory(), "temp_bytes": temp_bytes,
      # The timed steps' own cost and finiteness: rows of one setting's forms
      # start from the same parameters and batch, so a kernel that computes
      # the wrong thing shows here, not only in its speed.
      # None when every timed step was non-finite (skipped, so none counted).
      "train_bits": (float(state.bits_sum / state.bits_count)
                     if float(state.bits_count) > 0 else None),
      "nonfinite_step": int(state.nonfinite_step),
  }
  if baseline:
    with jax.disable_jit():
      eager = []
      st = steps.init_state(model, tx, jax.random.key(0), b, config.seq_len)
      for _ in range(2):
        t = time.perf_counter()
        st = fn(st, batch)
        jax.block_until_ready(st.step)
        eager.append(time.perf_counter() - t)
    out["eager_step_s"] = min(eager)
    out["speedup_vs_eager"] = min(eager) / step_s
  return out


def _run():
  on_cpu = common.on_cpu()
  for name in _CONFIGS.value.split(","):
    config, n_classes = common.load_config(name)
    default_bs = ("8,32" if name != "paper" else "8") if on_cpu else (
        "8,32,128" if name != "paper" else "32,128,256")
    for bs in (_BATCH_SIZES.value or default_bs).split(","):
      config.batch_size = int(bs)
      if _SEQ_LEN.value:
        config.seq_len = _SEQ_LEN.value
      config.dtype = _DTYPE.value
      for l1, form, unroll, kernel in baselines.settings(
          _SAMPLE_L1.value, _FORMS, _RNN_UNROLL.value, _RNN_KERNEL.value):
        config.sample_l1, config.rnn_unroll, config.rnn_kernel = l1, unroll, kernel
        try:
          row = {"config": name, **measure(config, n_classes, _STEPS.value, _BASELINE.value,
                                           _PROFILE.value, form),
                 "date": common.today()}
        except Exception as e:  # the next settings still run (a lent GPU's minutes)
          row = common.error_row({"config": name, "batch_size": config.batch_size,
                                  "dtype": config.dtype, "sample_l1": l1, **form,
                                  "rnn_unroll": unroll, "rnn_kernel": kernel}, e)
        common.emit(row)
  common.exit_if_any_failed()


def main(argv=None):
  """train_speed.py in this process (flags only; every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
