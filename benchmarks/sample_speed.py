"""Generation speed: one JSON object per (config, batch, --unroll, --draws, --min_rows, --hidden1).

  python benchmarks/sample_speed.py                     # tiny and paper, batch 1, 15, 300
  python benchmarks/sample_speed.py --configs tiny --batches 1,15,300
  python benchmarks/sample_speed.py --configs paper --batches 1,15 --seconds 0.25

What is timed is ``sampling.generate`` (the library's one compiled nested
scan, as sample.py runs it) on freshly initialised parameters
(``steps.init_params``; no checkpoint needed): class one-hots cycling over
the config's classes (15 for the paper's, 4 for tiny), temperature 1. The
run is made of equal blocks (``block_samples``: at most 1 s, at least 5 per
run); a first one-block call compiles and warms up, then the whole run is
timed.

The baseline, in the same run and at the same batch, is a per-sample Python
loop over the same model and parameters, as samplernn-pytorch generates:
jitted single-step functions, one frame-tier step every s_k samples and one
sample-tier step (with the draw) per sample, called from a Python ``for``
loop. Its draws use the same position-keyed randomness, so its samples
should equal the scan's (``baseline_same_samples``). It runs a shorter
length (``--baseline_seconds``); speeds are per wall second, so the ratio
``speedup_vs_python_loop`` compares like with like.

Fields: config, batch, seconds_generated (per clip), samples_per_s
(generated samples over the whole batch per wall second, after warm-up),
real_time_factor {per_stream, total} (audio seconds generated per wall
second), wall_s, compile_s (the warm-up call minus its share of run time),
block_samples, dtype, sample_l1, unroll, draws, min_rows, hidden1 and
guidance (``--unroll``, ``--draws``, ``--min_rows``, ``--hidden1``,
``--guidance``; min_rows and hidden1 since 2026-11-30), same_samples_as_first
(rows after the first of several ``--unroll``, ``--draws``, ``--min_rows``
or ``--hidden1`` settings: the same samples as the first (with --hidden1,
equal up to float32 rounding, not necessarily to the bit);
the baseline runs once, with the first; rows before 2026-11-30 call it
same_samples_as_first_unroll), baseline_seconds, baseline_samples_per_s,
speedup_vs_python_loop, baseline_same_samples, device
(``jax.devices()[0].device_kind``), model_flops_per_sample (the forward
matmuls: a third of common.train_flops_per_sample, however the sampler does
them), device_matmul_flops_per_s (this device's own matmul, measured in the
same run) and fraction_of_matmul (model FLOP/s over it), date. A setting
that raises gives a row with its ``error`` instead; the others still run,
and the script exits 1 at the end.

The paper reports 300 clips x 5 s in 265 s on a GTX Titan Xp: about 90 k
samples/s, a real-time factor of 5.7 in total (0.019 per clip).

``--profile DIR`` writes a jax.profiler trace of the first row's timed run
(``benchmarks/profile_table.py --trace_dir DIR`` sums it per operation).

On a CPU the paper model at batch 300 is slow (minutes per 0.1 s of audio):
restrict it with --batches. No audio I/O is imported (no soundfile).
"""
import functools
import time

import common

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from samplernn_jax import cli
from samplernn_jax import config as config_lib
from samplernn_jax import quantize as quant
from samplernn_jax import sampling, steps
from samplernn_jax.model import SampleRNN

RATE = 16000

_CONFIGS = flags.DEFINE_string("configs", "tiny,paper",
                               "tiny, paper, default or config file paths")
_BATCHES = flags.DEFINE_string("batches", "1,15,300", "comma-separated batch sizes")
_SECONDS = flags.DEFINE_float("seconds", None,
                              "audio per clip (default 0.5 on CPU, 5 on GPU)")
_BASELINE_SECONDS = flags.DEFINE_float(
    "baseline_seconds", None, "audio per clip of the Python-loop baseline; 0 = no "
    "baseline (default 0.05 on CPU, 0.2 on GPU)")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "compute dtype")
_SAMPLE_L1 = flags.DEFINE_enum("sample_l1", "matmul", ["matmul", "table"],
                               "sample tier's first layer (config.sample_l1)")
_UNROLL = flags.DEFINE_multi_integer(
    "unroll", [1], "sample steps per iteration of the innermost scan "
    "(sampling.generate's unroll); repeat the flag to compare in one run")
_DRAWS = flags.DEFINE_multi_enum(
    "draws", ["frame"], ["frame", "sample"],
    "where the draws' random noise and the log-probs are computed: once per bottom "
    "frame, batched (sampling.generate's batched_draws, the default) or inside every "
    "sample step (the older form); repeat the flag to compare in one run")
_MIN_ROWS = flags.DEFINE_multi_integer(
    "min_rows", [1], "sampling.generate's min_rows: rows the compiled program runs at "
    "least (copies of the last clip, dropped; 2 gives one clip matrix-multiply "
    "kernels on a GPU); may repeat")
_HIDDEN1 = flags.DEFINE_multi_enum(
    "hidden1", ["folded"], ["folded", "matmul"],
    "the sample tier's hidden1 in the sampler: its kernel multiplied into the layers "
    "that feed it once before generating (sampling.prepare's default since "
    "2026-11-30), or a matmul in every sample step (the form before); may repeat")
_PROFILE = flags.DEFINE_string(
    "profile", "", "write a jax.profiler trace of the first row's timed generation "
    "to this folder (benchmarks/profile_table.py sums it per operation)")
_GUIDANCE = flags.DEFINE_float("guidance", 1.0, "sampling.generate's guidance (g != 1 "
                               "runs 2B rows: the classifier-free guided draw)")


def class_vectors(batch: int, n_classes: int) -> np.ndarray:
  return np.eye(n_classes, dtype=np.float32)[np.arange(batch) % n_classes]  # [B, C]


def plan(seconds: float, frame: int) -> tuple[int, int]:
  """(samples per clip, block_samples): >= 5 equal blocks of at most 1 s, multiples of S."""
  n = max(frame, int(round(seconds * RATE)))
  block = min(RATE, max(frame, (n // 5) // frame * frame))
  block = -(-block // frame) * frame
  return -(-n // block) * block, block


def time_scan(model, params, vecs, seconds, unroll=1, guidance=1.0, profile="",
              draws="frame", min_rows=1, hidden1="folded"):
  """The library's generation: (row fields, the generated samples [B, N]);
  with ``profile``, a jax.profiler trace of the timed run in that folder."""
  n, block = plan(seconds, model.frame_sizes[0])
  key = jax.random.key(0)
  prepare = functools.partial(sampling.prepare, fold_hidden1_kernel=hidden1 == "folded")
  gen = functools.partial(sampling.generate, model, params, vecs, key=key,
                          block_samples=block, unroll=unroll, guidance=guidance,
                          batched_draws=draws == "frame", min_rows=min_rows,
                          prepare_fn=prepare)
  t = time.perf_counter()
  gen(n_samples=block)  # compiles
  first = time.perf_counter() - t
  if profile:
    jax.profiler.start_trace(profile)
  t = time.perf_counter()
  x, _ = gen(n_samples=n)
  wall = time.perf_counter() - t
  if profile:
    jax.profiler.stop_trace()
  b = vecs.shape[0]
  rate = b * n / wall
  return {
      "seconds_generated": n / RATE, "samples_per_s": rate,
      "real_time_factor": {"per_stream": rate / b / RATE, "total": rate / RATE},
      "wall_s": wall, "compile_s": max(0.0, first - wall * block / n),
      "block_samples": block}, x


def python_loop_generator(model, params, vecs):
  """The per-sample Python loop of samplernn-pytorch, over jitted single steps.

  Returns ``run(n, key) -> samples [B, n]`` (a numpy array, after the last step).
  """
  fs = tuple(model.frame_sizes)
  variables = {"params": params}
  cond = jax.jit(lambda v, c: model.apply(v, c, method=SampleRNN.conditioning))(
      variables, jnp.asarray(vecs))

  @functools.partial(jax.jit, static_argnums=0)
  def tier_step(k, variables, buf, upper, j, h):
    """Tier k on the last s_k samples; its conditioning is row j of the upper tier's output."""
    frame = buf[:, -fs[k]:][:, None, :]  # [B, 1, s_k]
    up = None if upper is None else upper[:, j][:, None, :]  # [B, 1, H]
    return model.apply(variables, k, frame, up, cond, h, method=SampleRNN.tier)

  @jax.jit
  def sample_step(variables, buf, upper, j, key, pos):
    """One sample: logits from the last s_{K-1} samples, a draw, the buffer shifted."""
    prev = buf[:, -fs[-1]:][:, None, :]
    logits = model.apply(variables, prev, upper[:, j][:, None, :], cond,
                         method=SampleRNN.sample_logits)[:, 0].astype(jnp.float32)
    x = jax.random.categorical(jax.random.fold_in(key, pos), logits / 1.0, axis=-1)
    x = x.astype(jnp.int32)
    return jnp.concatenate([buf[:, 1:], x[:, None]], axis=1), x

  def run(n, key):
    b = vecs.shape[0]
    h = list(model.apply(variables, b, method=SampleRNN.initial_state))
    buf = jnp.full((b, fs[0]), quant.q_zero(model.q_levels), jnp.int32)
    uppers = [None] * len(fs)  # each tier's output for its current frame
    out = []
    for t in range(n):
      for k, s in enumerate(fs):
        if t % s == 0:
          upper = None if k == 0 else uppers[k - 1]
          j = 0 if k == 0 else (t % fs[k - 1]) // s
          uppers[k], h[k] = tier_step(k, variables, buf, upper, j, h[k])
      buf, x = sample_step(variables, buf, uppers[-1], t % fs[-1], key, t)
      out.append(x)
    return np.asarray(jnp.stack(out, axis=1))
  return run


def time_python_loop(model, params, vecs, seconds, reference):
  frame = model.frame_sizes[0]
  n = max(frame, int(round(seconds * RATE)) // frame * frame)
  run = python_loop_generator(model, params, vecs)
  key = jax.random.key(0)
  run(frame, key)  # compiles every step function
  t = time.perf_counter()
  x = run(n, key)
  wall = time.perf_counter() - t
  m = min(n, reference.shape[1])
  return {"baseline_seconds": n / RATE,
          "baseline_samples_per_s": vecs.shape[0] * n / wall,
          "baseline_same_samples": bool(np.array_equal(x[:, :m], reference[:, :m]))}


def rounded(obj):
  """Floats to 4 significant digits (timings are not more precise than that)."""
  if isinstance(obj, dict):
    return {k: rounded(v) for k, v in obj.items()}
  if isinstance(obj, float):
    return float(f"{obj:.4g}")
  return obj


def _row(name, config, n_classes, model, params, b, seconds, baseline_seconds, matmul,
         unroll=1, first_x=None, profile="", guidance=1.0, draws="frame", min_rows=1,
         hidden1="folded"):
  """One JSON row: the scan at batch ``b``, then the Python-loop baseline;
  with ``first_x`` (the samples of the first unroll / draws / min_rows
  setting), whether this setting drew the same samples. Returns (row, samples)."""
  vecs = class_vectors(b, n_classes)
  row = {"config": name, "batch": b}
  fields, x = time_scan(model, params, vecs, seconds, unroll, guidance, profile, draws,
                        min_rows, hidden1)
  row.update(fields)
  row.update(dtype=config.dtype, sample_l1=config.sample_l1, unroll=unroll, draws=draws,
             min_rows=min_rows, hidden1=hidden1, guidance=guidance)
  if first_x is not None:
    row["same_samples_as_first"] = bool(np.array_equal(x, first_x))
  if baseline_seconds > 0 and guidance == 1.0:  # the loop has no guidance
    base = time_python_loop(model, params, vecs, baseline_seconds, x)
    row.update(base)
    row["speedup_vs_python_loop"] = row["samples_per_s"] / base["baseline_samples_per_s"]
  fwd = common.train_flops_per_sample(config, n_classes) / 3.0
  row.update(device=common.device_kind(), model_flops_per_sample=fwd,
             device_matmul_flops_per_s=matmul,
             fraction_of_matmul=common.fraction_of(fwd, row["samples_per_s"], matmul),
             date=common.today())
  return rounded(row), x


def _run():
  cpu = common.on_cpu()
  seconds = _SECONDS.value if _SECONDS.value is not None else (0.5 if cpu else 5.0)
  baseline_seconds = (_BASELINE_SECONDS.value if _BASELINE_SECONDS.value is not None
                      else (0.05 if cpu else 0.2))
  matmul = common.matmul_flops_per_s(_DTYPE.value)  # the reference of every row below
  profile = _PROFILE.value
  for name in _CONFIGS.value.split(","):
    config, n_classes = common.load_config(name)
    config.dtype, config.sample_l1 = _DTYPE.value, _SAMPLE_L1.value
    model = config_lib.build_model(config, n_classes)
    params = steps.init_params(model, jax.random.key(0), config.seq_len)
    for b in (int(x) for x in _BATCHES.value.split(",")):
      first_x = None
      settings = [(u, d, m, h) for h in _HIDDEN1.value for d in _DRAWS.value
                  for u in _UNROLL.value for m in _MIN_ROWS.value]
      for i, (unroll, draws, rows, hidden1) in enumerate(settings):  # baseline: the first
        try:
          row, x = _row(name, config, n_classes, model, params, b, seconds,
                        baseline_seconds if i == 0 else 0.0, matmul, unroll, first_x,
                        profile, _GUIDANCE.value, draws, rows, hidden1)
        except Exception as e:  # the next settings still run (a lent GPU's minutes)
          row, x = common.error_row({"config": name, "batch": b, "dtype": config.dtype,
                                     "sample_l1": config.sample_l1, "unroll": unroll,
                                     "draws": draws, "min_rows": rows, "hidden1": hidden1}, e), None
        first_x = x if i == 0 else first_x
        profile = ""  # only the first row is traced
        common.emit(row)
  common.exit_if_any_failed()


def main(argv=None):
  """sample_speed.py in this process (flags only; every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
