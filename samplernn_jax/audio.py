"""Reading one mono clip at a known rate, with every problem named.

Used for the clips sample.py primes with (``--prime``) and the generated
clips evaluate.py judges: both must be mono at the model's rate, finite and
not empty. (Recordings of any rate and channel count for training are read
by ``packing.read_mono``, which mixes down and resamples.)
"""
from __future__ import annotations

import numpy as np
import soundfile as sf

# The largest sample magnitude accepted, in recordings and primes alike: half
# float64's range, so that a clip's max - min (quantize's min-max) is finite.
MAX_ABS = float(np.finfo(np.float64).max) / 2


def bad_rows(x: np.ndarray) -> np.ndarray:
  """Rows of float ``x`` [N, W] holding NaN, Inf or a sample beyond ``MAX_ABS``:
  bool [N]. (Compared only where the dtype reaches that far: in float16 the
  bound itself would round to Inf.)"""
  ok = np.isfinite(x)
  if float(np.finfo(x.dtype).max) > MAX_ABS:
    ok &= np.abs(x) <= MAX_ABS
  return ~ok.all(axis=1)


def read_mono(path: str, rate: int, name: str | None = None,
              error: type[Exception] = ValueError, why: str = "the model's rate",
              dtype: str = "float64") -> np.ndarray:
  """The samples [W] of the mono audio file ``path`` sampled at ``rate`` Hz.

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
  if bad_rows(x.T).any():  # x [T, 1]
    raise error(f"{name}: holds a sample of magnitude {np.abs(x).max():.3g}; expected "
                f"at most {MAX_ABS:.3g}")
  return x[:, 0]
