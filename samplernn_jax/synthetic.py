"""A small generated dataset with clearly different classes, for tests and demos.

Four classes, each a stationary texture with its own spectrum:
``tone`` (a 330 Hz tone with harmonics and slow vibrato), ``rumble``
(low-passed noise), ``chirp`` (rising sweeps, 1-3 kHz), ``clicks`` (a train of
short decaying pulses). Each clip gets random phases, levels and noise from a
seeded generator, so the data are the same on every machine for a seed
(train.py draws them with ``config.seed``: another seed, other clips).
"""
from __future__ import annotations

import numpy as np

from samplernn_jax.splits import Split

CLASS_NAMES = ("tone", "rumble", "chirp", "clicks")


def make_clip(cls: int, n: int, rng: np.random.Generator, rate: int = 16000) -> np.ndarray:
  t = np.arange(n) / rate
  if cls == 0:
    f0 = 330 * (1 + 0.01 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 6.3)))
    ph = 2 * np.pi * np.cumsum(f0) / rate
    x = np.sin(ph) + 0.5 * np.sin(2 * ph) + 0.25 * np.sin(3 * ph)
  elif cls == 1:
    w = rng.standard_normal(n + 64)
    k = np.hanning(64)
    x = np.convolve(w, k / k.sum(), mode="same")[:n] * 4
  elif cls == 2:
    period = 0.25
    tau = np.mod(t + rng.uniform(0, period), period)
    ph = 2 * np.pi * (1000 * tau + 4000 * tau ** 2)
    x = np.sin(ph)
  else:
    x = np.zeros(n)
    step = int(rate * 0.05)
    k = np.exp(-np.arange(200) / 30.0) * np.sin(2 * np.pi * 2500 * np.arange(200) / rate)
    for s in range(int(rng.integers(0, step)), n - 200, step):
      x[s:s + 200] += k
  x = x * rng.uniform(0.5, 1.0) + 0.02 * rng.standard_normal(n)
  return x.astype(np.float32)


def make_split(name: str, clips_per_class: int, clip_len: int, seed: int,
               n_classes: int = len(CLASS_NAMES)) -> Split:
  """An in-memory split: float16 wav [n_classes * clips_per_class, clip_len]."""
  rng = np.random.default_rng([seed, ("train", "valid", "test").index(name)])
  sid = np.repeat(np.arange(n_classes), clips_per_class).astype(np.int32)
  wav = np.stack([make_clip(int(c), clip_len, rng) for c in sid]).astype(np.float16)
  return Split(path=f"<synthetic {name}>", wav=wav, sid=sid)
