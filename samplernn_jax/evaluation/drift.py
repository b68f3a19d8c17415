"""How a clip's level and brightness move along it: per-second statistics.

Used to see whether generated clips drift (into silence, into a constant
offset, into broadband noise) where real recordings of the class do not.
Each second of a clip gives:

* ``rms``: its RMS after removing that second's mean (the DC offset);
* ``dc``: that mean;
* ``centroid``: the spectral centroid in Hz (mean over Hann-windowed frames
  of 1024 samples, power-weighted), of the DC-free second;
* ``change``: the share of samples that differ from the sample before (a
  clip stuck on one level has almost none).

Shapes: B clips, T samples, S whole seconds (T // rate).
"""
from __future__ import annotations

import numpy as np

FRAME = 1024


def per_second(x: np.ndarray, rate: int = 16000) -> dict[str, np.ndarray]:
  """Statistics float64 [B, S] of audio [B, T] (see the module doc)."""
  x = np.asarray(x, np.float64)
  s = x.shape[1] // rate
  if s < 1:
    raise ValueError(f"clips of {x.shape[1]} samples are shorter than a second")
  sec = x[:, :s * rate].reshape(x.shape[0], s, rate)  # [B, S, rate]
  dc = sec.mean(-1)
  ac = sec - dc[..., None]
  k = rate // FRAME
  frames = ac[..., :k * FRAME].reshape(x.shape[0], s, k, FRAME) * np.hanning(FRAME)
  power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2  # [B, S, k, FRAME/2+1]
  freqs = np.fft.rfftfreq(FRAME, 1.0 / rate)
  total = power.sum(-1)
  centroid = np.where(total > 0, (power * freqs).sum(-1) / np.where(total > 0, total, 1), 0)
  return {"rms": np.sqrt((ac ** 2).mean(-1)), "dc": dc,
          "centroid": centroid.mean(-1),
          "change": (np.diff(sec, axis=-1) != 0).mean(-1)}


def summary(x: np.ndarray, rate: int = 16000) -> dict[str, list[float]]:
  """Median over clips of each statistic, second by second: {name: [S]}."""
  return {k: [round(float(v), 5) for v in np.median(a, axis=0)]
          for k, a in per_second(x, rate).items()}
