"""Log-mel features and the fixed-length windows the classifier sees.

Feature definition (``FeatureConfig`` defaults; the DCASE kind the paper's
evaluation names):

* input: mono audio at 16 kHz, float [B, T];
* STFT: periodic Hann window of ``n_fft`` = 1024 samples (64 ms), hop 512
  (32 ms); the signal is zero-padded by ``n_fft // 2`` on both sides, so a
  clip of T samples has F = 1 + T // hop frames, frame f centred on sample
  f * hop (scipy.signal.stft's ``boundary='zeros', padded=False`` layout);
* power spectrum ``|X|^2`` (no window normalisation), [B, F, n_fft // 2 + 1];
* 64 triangular mel filters (HTK mel scale ``2595 log10(1 + f / 700)``,
  50 Hz to 8 kHz, peak 1, unnormalised), [B, F, M];
* natural log with a floor: ``log(mel + 1e-6)``.

Windows: the classifier sees ``window_seconds`` (default 5 s, the length of
the paper's generated clips) of audio. ``window_starts`` says where windows
start in a clip of any length: ``"first"`` takes the first window only (used
for every accuracy and embedding, so each clip counts once); ``"cover"``
takes ceil(T / W) evenly spaced windows, the first at 0 and the last ending at
the end of the clip (used for training: an 8-second real clip gives windows at
0 s and 3 s). A clip shorter than a window is zero-padded at its end.

Shapes: B clips (or windows), T samples, W samples a window, F frames,
K = n_fft // 2 + 1 frequency bins, M mel bands.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
  """Log-mel settings (hashable: used as a static argument of ``jax.jit``)."""
  sample_rate: int = 16000
  n_fft: int = 1024
  hop: int = 512
  n_mels: int = 64
  fmin: float = 50.0
  fmax: float = 8000.0
  log_floor: float = 1e-6

  def num_frames(self, num_samples: int) -> int:
    return 1 + num_samples // self.hop


def hz_to_mel(f):
  return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)


def mel_to_hz(m):
  return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


def mel_filterbank(cfg: FeatureConfig) -> np.ndarray:
  """Triangular mel filters, float32 [K, M]; filter m peaks (1.0) at its centre."""
  if not 0 <= cfg.fmin < cfg.fmax <= cfg.sample_rate / 2:
    raise ValueError(f"mel range {cfg.fmin}..{cfg.fmax} Hz does not fit in "
                     f"0..{cfg.sample_rate / 2} Hz")
  edges = mel_to_hz(np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax),
                                cfg.n_mels + 2))  # [M + 2] Hz
  freqs = np.arange(cfg.n_fft // 2 + 1) * cfg.sample_rate / cfg.n_fft  # [K]
  lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]  # [M] each
  rising = (freqs[:, None] - lower) / (centre - lower)  # [K, M]
  falling = (upper - freqs[:, None]) / (upper - centre)  # [K, M]
  return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


def hann_periodic(n: int) -> np.ndarray:
  """The periodic ("DFT-even") Hann window of n samples, float32 [n]."""
  return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)


@functools.partial(jax.jit, static_argnums=1)
def log_mel(wav: jax.Array, cfg: FeatureConfig = FeatureConfig()) -> jax.Array:
  """Log-mel features of float [B, T] audio: float32 [B, F, M], F = 1 + T // hop."""
  wav = jnp.asarray(wav, jnp.float32)
  half = cfg.n_fft // 2
  padded = jnp.pad(wav, ((0, 0), (half, half)))  # [B, T + n_fft]
  n_frames = cfg.num_frames(wav.shape[1])
  idx = (np.arange(n_frames)[:, None] * cfg.hop
         + np.arange(cfg.n_fft)[None, :])  # [F, n_fft]
  frames = padded[:, idx] * hann_periodic(cfg.n_fft)  # [B, F, n_fft]
  spec = jnp.fft.rfft(frames, axis=-1)  # [B, F, K]
  power = jnp.real(spec) ** 2 + jnp.imag(spec) ** 2
  mel = jnp.einsum("bfk,km->bfm", power, mel_filterbank(cfg),
                   precision=jax.lax.Precision.HIGHEST)  # [B, F, M]
  return jnp.log(mel + cfg.log_floor)


def window_starts(num_samples: int, window: int, mode: str) -> np.ndarray:
  """Start samples int [k] of the windows of a clip of ``num_samples``."""
  if mode == "first" or num_samples <= window:
    return np.zeros(1, np.int64)
  if mode == "cover":
    k = -(-num_samples // window)
    return np.round(np.linspace(0, num_samples - window, k)).astype(np.int64)
  raise ValueError(f"unknown window mode {mode!r} (expected 'first' or 'cover')")


def clip_windows(wav: np.ndarray, window: int, mode: str) -> np.ndarray:
  """The windows of one clip, float32 [k, W]; short clips are zero-padded."""
  wav = np.asarray(wav, np.float32)
  if wav.shape[0] < window:
    wav = np.pad(wav, (0, window - wav.shape[0]))
  return np.stack([wav[s:s + window]
                   for s in window_starts(wav.shape[0], window, mode)])


def features_of_clips(clips: Iterable[tuple[np.ndarray, int]], window: int,
                      mode: str, cfg: FeatureConfig = FeatureConfig(),
                      batch: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Log-mel features of the windows of many clips.

  Args:
    clips: (audio float [T_i], label) pairs; T_i may differ between clips.
    window: W, samples a window.
    mode: ``"first"`` or ``"cover"`` (see ``window_starts``).
    cfg: the feature settings.
    batch: windows per call of the jitted ``log_mel`` (the last call is
      padded to this size, so one shape is compiled).

  Returns:
    features float32 [N, F, M], labels int32 [N] and clip index int32 [N] of
    the N windows.
  """
  feats, labels, owner = [], [], []
  pending, n_pending = [], 0  # windows waiting for a full batch

  def run(x):  # float32 [n <= batch, W] -> [n, F, M]
    n = x.shape[0]
    if n < batch:
      x = np.concatenate([x, np.zeros((batch - n, window), np.float32)])
    feats.append(np.asarray(log_mel(x, cfg))[:n])

  for i, (wav, label) in enumerate(clips):
    w = clip_windows(wav, window, mode)  # [k, W]
    labels.extend([label] * w.shape[0])
    owner.extend([i] * w.shape[0])
    pending.append(w)
    n_pending += w.shape[0]
    if n_pending >= batch:
      x = np.concatenate(pending)
      full = (n_pending // batch) * batch
      for s in range(0, full, batch):
        run(x[s:s + batch])
      pending, n_pending = [x[full:]], n_pending - full
  if n_pending:
    run(np.concatenate(pending))
  if not feats:
    raise ValueError("no clips to compute features of")
  return (np.concatenate(feats), np.asarray(labels, np.int32),
          np.asarray(owner, np.int32))


def split_clips(wav: np.ndarray, sid: np.ndarray, rows_per_read: int = 256
                ) -> Iterator[tuple[np.ndarray, int]]:
  """(clip float32 [T], class) pairs of a split, read a block of rows at a time.

  ``wav`` may be a memory-map of the paper's 1.5 GB float16 training split;
  only ``rows_per_read`` rows are converted to float32 at once.
  """
  for start in range(0, wav.shape[0], rows_per_read):
    block = np.asarray(wav[start:start + rows_per_read], np.float32)
    if not np.isfinite(block).all():
      bad = start + int(np.nonzero(~np.isfinite(block).all(axis=1))[0][0])
      raise ValueError(f"row {bad} holds NaN or Inf")
    for j in range(block.shape[0]):
      yield block[j], int(sid[start + j])
