"""Reading one mono clip at a known rate, with every problem named.

Used for the clips sample.py primes with (``--prime``) and the generated
clips evaluate.py judges: both must be mono at the model's rate, finite and
not empty. (Recordings of any rate and channel count for training are read
by ``packing.read_mono``, which mixes down and resamples.)
"""
from __future__ import annotations

import numpy as np
import soundfile as sf


def read_mono(path: str, rate: int, name: str | None = None,
              error: type[Exception] = ValueError, why: str = "the model's rate",
              dtype: str = "float64") -> np.ndarray:
  """The samples [T] of the mono audio file ``path`` sampled at ``rate`` Hz.

  Raises ``error`` with a message that starts with ``name`` (default: the
  path) for an unreadable file, another rate (``why`` says whose rate it
  must match), more than one channel, no samples, or NaN/Inf.
  """
  name = name or path
  try:
    x, sr = sf.read(path, dtype=dtype, always_2d=True)
  except Exception as e:  # soundfile raises LibsndfileError, RuntimeError...
    raise error(f"{name}: not a readable audio file ({e})") from e
  if sr != rate:
    raise error(f"{name}: sample rate {sr} Hz; expected {rate} Hz ({why})")
  if x.shape[1] != 1:
    raise error(f"{name}: {x.shape[1]} channels; expected mono")
  if x.shape[0] == 0:
    raise error(f"{name}: empty (no samples)")
  if not np.isfinite(x).all():
    raise error(f"{name}: holds NaN or Inf")
  return x[:, 0]
