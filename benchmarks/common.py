"""Small helpers for the benchmark scripts: configs by name, device, date, output.

Imports nothing heavier than jax and the package's config module (no audio
I/O), so a benchmark's import path stays that of the code it measures.
"""
import datetime
import json
import os
import sys
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Short names for the configs the benchmarks measure; other values are paths.
CONFIGS = {"tiny": "configs/tiny.py", "paper": "configs/dcase2016.py",
           "default": "configs/default.py"}
# Classes of a config whose n_classes comes from the data (0): tiny's 4
# textures, the bundled default data's 5 scenes.
DEFAULT_CLASSES = {"paper": 15, "tiny": 4, "default": 5}


def load_config(name: str):
  """``get_config()`` of configs/<name>.py by short name or path, and its class count."""
  from samplernn_jax import config as config_lib
  path = CONFIGS.get(name, name)
  if not os.path.isabs(path):
    path = os.path.join(ROOT, path)
  config = config_lib.load_config_file(path)
  n_classes = int(config.n_classes) or DEFAULT_CLASSES.get(name, 4)
  return config, n_classes


def random_batch(config, n_classes: int, seed: int = 0) -> dict:
  """A training batch of random samples and classes in the shapes of
  ``batches.batch_spec`` (every row a new clip, nothing masked)."""
  import numpy as np
  from samplernn_jax import batches, config as config_lib
  spec = batches.batch_spec(config.batch_size, config.seq_len,
                            config_lib.frame_sizes(config)[0])
  rng = np.random.default_rng(seed)
  high = {"chunk": config.q_levels, "sid": n_classes}
  return {k: (rng.integers(0, high[k], shape) if k in high else np.ones(shape)).astype(dtype)
          for k, (shape, dtype) in spec.items()}


def train_flops_per_sample(config, n_classes: int) -> float:
  """Model FLOPs of one training step per target sample: 3 x the forward matmuls.

  Counts every matrix product of the forward pass (frame tiers' input, RNN,
  skip and output layers per frame, divided by the frame size; the sample
  tier's four layers per sample, its first as the embedding matmul whatever
  ``sample_l1`` says) and takes the backward pass as twice the forward: the
  usual model-FLOPs convention, independent of how a step is implemented.
  The paper model comes to about 52 MFLOP per sample.
  """
  from samplernn_jax import config as config_lib
  fs = config_lib.frame_sizes(config)
  h, q, r = int(config.dim), int(config.q_levels), int(config.n_rnn)
  gates = 3 if config.rnn_type == "GRU" else 4
  cond = n_classes if config.cond_type == "one_hot" else int(config.cond_emb_size)
  fwd = 0.0
  for k, s in enumerate(fs):
    ratio = fs[k] // fs[k + 1] if k + 1 < len(fs) else fs[k]
    first_in = s + cond if k == 0 else h
    per_frame = 0 if k == 0 else s * h  # input_expand
    for l in range(r):
      layer_in = first_in if l == 0 else (h + first_in if config.skip_conn else h)
      per_frame += gates * (layer_in + h) * h
      per_frame += h * h if config.skip_conn else 0
    per_frame += h * ratio * h  # output projection
    fwd += 2.0 * per_frame / s
  s = fs[-1]
  width = {"embedding": s * int(config.emb_size), "one_hot": s * q, "real": s}[
      config_lib.sample_input(config)]
  fwd += 2.0 * (width * h + 2 * h * h + h * q)
  return 3.0 * fwd


def matmul_flops_per_s(dtype: str = "float32", n: int | None = None, repeats: int = 7) -> float:
  """The device's own dense-matmul throughput, measured here: FLOP/s of a
  jitted [n, n] x [n, n] product (2 n^3 FLOPs), median of ``repeats`` timed
  calls after a warm-up. The physical reference for a row measured in the
  same run: a step's model FLOP/s divided by it is the fraction of what this
  device's matmul reaches (``fraction_of_matmul``), where no vendor peak is
  known (CPUs). ``n`` defaults to 1024 on a CPU and 8192 elsewhere: a GPU's
  1024-square product takes a few microseconds, less than the call's own
  dispatch and synchronisation, and would read 10-20x low."""
  import statistics
  import time

  import jax
  import jax.numpy as jnp
  n = n or (1024 if on_cpu() else 8192)
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.dtype(dtype))
  f = jax.jit(lambda x: x @ x)
  jax.block_until_ready(f(a))
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(f(a))
    times.append(time.perf_counter() - t)
  return 2.0 * n ** 3 / statistics.median(times)


def fraction_of(model_flops_per_sample: float, samples_per_s: float,
                reference_flops_per_s: float, devices: int = 1) -> float:
  """Model FLOP/s of a measured row over a reference FLOP/s (all devices)."""
  return model_flops_per_sample * samples_per_s / (reference_flops_per_s * devices)


def device_kind() -> str:
  import jax
  return jax.devices()[0].device_kind


def on_cpu() -> bool:
  import jax
  return jax.devices()[0].platform == "cpu"


def today() -> str:
  return datetime.date.today().isoformat()


_FAILED: list[dict] = []


def error_row(context: dict, error: Exception) -> dict:
  """The row of a setting whose measurement raised: ``context`` (what names
  the setting) with the error, its traceback on stderr. On a lent GPU one
  setting's failure (a kernel that does not compile) must not end the rows
  after it; ``exit_if_any_failed`` makes the script's exit status say so."""
  traceback.print_exception(error, file=sys.stderr)
  _FAILED.append(context)
  return {**context, "error": f"{type(error).__name__}: {error}"[:2000], "date": today()}


def exit_if_any_failed() -> None:
  failed = len(_FAILED)
  _FAILED.clear()  # the next run in this process starts afresh
  if failed:
    raise SystemExit(f"error: {failed} setting(s) failed; their rows hold the error")


def emit(row: dict) -> None:
  """One JSON object per line on stdout, flushed (a partial run keeps its rows).
  A row made under XLA_FLAGS (e.g. command buffers) records them."""
  if os.environ.get("XLA_FLAGS"):
    row = {**row, "xla_flags": os.environ["XLA_FLAGS"]}
  print(json.dumps(row), flush=True)
