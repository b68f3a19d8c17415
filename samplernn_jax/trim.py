"""Cutting near-constant passages out of training clips (``config.trim_quiet``).

A linear 8-bit clip is scaled from its own minimum to its maximum, so a
passage that varies by less than one level of that range (forest's quiet
background under its loudest bird calls) becomes one constant level, a
state the model learns to stay in (docs/quality.md). ``trim_split`` drops
every 20 ms frame whose spread (RMS about the frame's mean) is below
``threshold`` levels of its clip, joins what is left of each class's clips
in file order and cuts it into clips of the original length again.

Shapes: N clips, W samples a clip, P samples a 20 ms frame (model.py's glossary).
"""
from __future__ import annotations

import numpy as np

from samplernn_jax.errors import DataError
from samplernn_jax.splits import Split

FRAME = 320  # 20 ms at 16 kHz
FRAME_SECONDS = 0.02


def frame_samples(sample_rate: int) -> int:
  """Samples P in a 20 ms frame at ``sample_rate`` (FRAME at 16 kHz)."""
  return max(1, round(FRAME_SECONDS * sample_rate))


def loud_frames(clip: np.ndarray, q_levels: int, threshold: float,
                frame: int = FRAME) -> np.ndarray:
  """bool [W // P]: the frames of ``clip`` [W] whose RMS about their own mean
  is at least ``threshold`` linear levels of the clip's min-max range."""
  clip = np.asarray(clip, np.float64)
  level = (clip.max() - clip.min()) / q_levels
  frames = clip[:len(clip) // frame * frame].reshape(-1, frame)
  spread = frames.std(axis=1)
  return spread >= threshold * level if level > 0 else np.zeros(len(frames), bool)


def _kept(clip: np.ndarray, q_levels: int, threshold: float, frame: int) -> np.ndarray:
  """``clip`` [W] without its quiet frames (a tail shorter than a frame stays)."""
  keep = loud_frames(clip, q_levels, threshold, frame)
  whole = len(keep) * frame
  kept = clip[:whole].reshape(-1, frame)[keep].reshape(-1)
  return np.concatenate([kept, clip[whole:]])


def trim_split(split: Split, q_levels: int, threshold: float, class_names,
               frame: int = FRAME) -> tuple[Split, dict[str, tuple[int, int]]]:
  """``split`` with its quiet frames cut out, re-cut per class.

  Returns the new in-memory split ([N', W] in the split's own dtype, so
  about the size of the file it was read from; classes in order, each
  class's clips in file order) and {class name: (clips before, after)}.
  Raises DataError naming the class when one keeps less than one clip.
  """
  t = split.clip_len
  sid = np.asarray(split.sid)
  wavs, sids, counts = [], [], {}
  for c in np.unique(sid):
    rows = np.flatnonzero(sid == c)
    joined = np.concatenate([_kept(np.asarray(split.wav[r]), q_levels, threshold, frame)
                             for r in rows])
    n = len(joined) // t
    name = class_names[c] if c < len(class_names) else str(c)
    if n == 0:
      raise DataError(
          f"{split.path}: class {name!r} keeps {len(joined)} samples after "
          f"config.trim_quiet={threshold}, less than one clip of {t}; lower "
          "config.trim_quiet or set it to 0 (off)")
    wavs.append(joined[:n * t].reshape(n, t).astype(split.wav.dtype))
    sids.append(np.full(n, c, np.int32))
    counts[name] = (len(rows), n)
  trimmed = Split(f"{split.path} (config.trim_quiet={threshold})",
                  np.concatenate(wavs), np.concatenate(sids))
  return trimmed, counts
