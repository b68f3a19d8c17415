"""Output levels: how generated levels become audio people hear.

The model never sees a recording's loudness: every training clip is min-max
scaled to the full range before quantisation (the original's linear and
mu-law schemes alike), so its output is in that scaled domain and its level
must be chosen afterwards. The choices (``sample.py --level``):

* ``class`` (default): each clip's DC offset removed and its RMS set to the
  median RMS of its class's training clips (``class_rms``, measured by
  ``class_rms`` below and stored in the checkpoint's meta by the trainer;
  for a mix of classes, the mix-weighted mean). Clips play at the loudness of
  the recordings of their scene.
* ``minmax`` (the paper's): each clip min-max rescaled to [-0.475, 0.475].
  A quiet clip's last-bit wiggles become full-scale noise.
* ``peak``: each clip scaled so that max |x| = 0.475.
* ``none``: the dequantised levels as they are (the model's scaled domain);
  known before a clip ends (``--stream``), as ``prime`` is.
* ``prime`` (default for a clip continuing a ``--prime`` recording): the
  inverse of the scaling the prime got before quantisation (its min and max
  to the full range), so the prime comes back as recorded, to within half
  a level, and the continuation follows at the same scale (never past the
  prime's own range). A constant prime gives no scale: refused.

Levels are float64 internally and returned as float32.
Shapes: B clips, N samples, C classes, M clips of a split.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from samplernn_jax.errors import LevelError

LEVELS = ("class", "minmax", "peak", "none", "prime")
PAPER_LEVEL = "minmax"
PEAK = 0.475  # the paper's output range, +-0.475


def rms(x: np.ndarray, axis: int = -1) -> np.ndarray:
  """Root mean square after removing the mean (the DC offset) along ``axis``."""
  x = np.asarray(x, np.float64)
  x = x - x.mean(axis=axis, keepdims=True)
  return np.sqrt((x * x).mean(axis=axis))


# float64 bytes a block of ``class_rms`` reads (it makes about three arrays
# of that size): 256 clips of 8 s at once held over 0.7 GB in every process.
_RMS_READ_BYTES = 32 << 20


def class_rms(wav, sid, n_classes: int, rows_per_read: int | None = None
              ) -> list[float | None]:
  """Median DC-free RMS of each class's clips: [C] floats (None: no clip).

  ``wav`` [M, W] (M clips of W samples) may be a memory-map of a large
  float16 split; it is read ``rows_per_read`` rows at a time (default: as
  many as fill 32 MB in float64, at least one).
  """
  sid = np.asarray(sid)
  rows = rows_per_read or max(1, _RMS_READ_BYTES // (8 * max(1, wav.shape[1])))
  per_clip = np.concatenate([rms(np.asarray(wav[s:s + rows], np.float64))
                             for s in range(0, wav.shape[0], rows)])  # [M]
  return [float(np.median(per_clip[sid == c])) if np.any(sid == c) else None
          for c in range(n_classes)]


def clip_targets(class_vecs: np.ndarray, levels: Sequence[float | None] | None
                 ) -> np.ndarray:
  """Target RMS of each clip [B] from its class weights [B, C]: the weighted
  mean of the classes' levels (a one-hot row takes its class's level)."""
  if levels is None:
    raise LevelError(
        "level 'class' needs the RMS of each class's training clips, which "
        "this checkpoint does not record (written before they were recorded, "
        "or imported from the original's parameters); choose level 'minmax' "
        "(the paper's), 'peak' or 'none', or retrain")
  vecs = np.asarray(class_vecs, np.float64)
  unweighted = ~(vecs.sum(-1) > 0)  # [B]: no class weight (NaN: a NaN weight)
  if unweighted.any():
    raise LevelError(f"level 'class': clip(s) {np.nonzero(unweighted)[0].tolist()} have class "
                     "weights that do not sum to more than 0 (all zero: the unconditional "
                     "draw), so no class gives their level; choose level 'minmax', 'peak' "
                     "or 'none'")
  lv = np.array([np.nan if v is None else v for v in levels], np.float64)  # [C]
  missing_used = (vecs > 0) & np.isnan(lv)[None, :]  # [B, C]
  if missing_used.any():
    missing = sorted({int(c) for c in np.nonzero(missing_used)[1]})
    raise LevelError(f"level 'class': no training clips give the level of "
                     f"class(es) {missing}; choose another level")
  targets = (vecs * np.nan_to_num(lv)).sum(-1) / vecs.sum(-1)  # [B]
  silent_rows = targets <= 0  # every weight on classes whose training clips are silent
  if silent_rows.any():
    silent = sorted({int(c) for c in np.nonzero(vecs[silent_rows] > 0)[1]})
    raise LevelError(f"level 'class': the training clips of class(es) {silent} are silent "
                     "(median RMS 0), so their clips would be too; choose level 'minmax', "
                     "'peak' or 'none'")
  return targets


def prime_span(span: tuple[float, float] | None) -> tuple[float, float]:
  """The (min, max) of a prime recording that level ``prime`` scales a clip
  back to: a LevelError when there is none or it gives no scale."""
  if span is None:
    raise LevelError("level 'prime' needs a prime recording to scale to: pass sample.py "
                     "--prime FILE (in Python, sample_files.load_prime gives its span), or "
                     "choose another level")
  lo, hi = (float(v) for v in span)
  if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
    raise LevelError(f"level 'prime': the prime recording is constant ({lo:g}), so it "
                     "gives no scale to continue at; choose another level, e.g. class")
  return lo, hi


def apply(x: np.ndarray, level: str, target_rms: np.ndarray | None = None,
          peak: float = PEAK, span: tuple[float, float] | None = None) -> np.ndarray:
  """Audio [B, N] (dequantised levels) at the chosen ``level``: float32 [B, N].

  ``target_rms`` [B] is needed for ``class`` (see ``clip_targets``), ``span``
  (the prime recording's min and max) for ``prime``. A clip that is silent
  (all zeros) comes out as zeros under every level but ``prime``, and a
  constant one under ``minmax`` and ``class`` too (no signal; ``peak``
  scales a constant to ``peak``).
  """
  x = np.asarray(x, np.float64)
  if level == "none":
    return x.astype(np.float32)
  if level == "prime":
    lo, hi = prime_span(span)
    return (lo + (x + 1.0) / 2.0 * (hi - lo)).astype(np.float32)
  if level == "minmax":
    lo, hi = x.min(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)
    span = hi - lo
    y = np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0) * 2 - 1, 0.0) * peak
  elif level == "peak":
    m = np.abs(x).max(axis=-1, keepdims=True)
    y = np.where(m > 0, x / np.where(m > 0, m, 1.0), 0.0) * peak
  elif level == "class":
    if target_rms is None:
      raise LevelError("level 'class' needs a target RMS per clip")
    x = x - x.mean(axis=-1, keepdims=True)
    r = rms(x)[:, None]
    t = np.asarray(target_rms, np.float64).reshape(-1, 1)
    y = np.where(r > 0, x / np.where(r > 0, r, 1.0), 0.0) * t
    # Never clip: a clip whose peaks would pass full scale is turned down.
    m = np.abs(y).max(axis=-1, keepdims=True)
    y = np.where(m > 1.0, y / np.maximum(m, 1.0), y)
  else:
    raise LevelError(f"level {level!r}: expected one of {', '.join(LEVELS)}")
  return y.astype(np.float32)
