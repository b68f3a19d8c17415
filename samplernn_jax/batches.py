"""TBPTT batches of quantised clips: the training order and evaluation passes.

A step number alone fixes its batch (``TrainBatches.get``), which is what
makes resumed runs exact. A batch is a dict of numpy arrays, batch axis first
(see ``steps.py``): ``chunk`` int32 [B, L], ``mask`` float32 [B, seq_len],
``sid`` int32 [B] (-1: no class, a zero class vector; see
``cond_dropout``), ``reset`` bool [B].

Shapes (model.py's glossary; W, not T, for a whole clip): B clips a batch,
W samples a clip, S top frame size,
L = seq_len + S samples a chunk.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np

from samplernn_jax import quantize as quant
from samplernn_jax.errors import DataError
from samplernn_jax.splits import Split, check_finite, check_split



def batch_spec(batch_size: int, seq_len: int, frame_size: int) -> dict:
  """{key: (shape, numpy dtype)} of a batch of ``batch_size`` rows (the module
  docstring's format; L = seq_len + frame_size), for code that makes batches
  without data (benchmarks, abstract shapes to compile for)."""
  b = batch_size
  return {"chunk": ((b, seq_len + frame_size), np.dtype(np.int32)),
          "mask": ((b, seq_len), np.dtype(np.float32)),
          "sid": ((b,), np.dtype(np.int32)),
          "reset": ((b,), np.dtype(np.bool_))}


def num_chunks(clip_len: int, seq_len: int) -> int:
  """Chunks per clip; the last one is padded and masked when W % seq_len != 0."""
  return -(-clip_len // seq_len)


def clip_dither(seeds: Sequence[Sequence[int]], clip_len: int) -> np.ndarray:
  """TPDF dither float64 [B, clip_len], one row per seed (``config.dither``).

  Each clip's noise depends on its seed alone (e.g. [run seed, epoch, row]),
  not on the batch or process it lands in, so a resumed or multi-process run
  quantises every clip exactly as an unbroken one-process run.
  """
  return np.stack([quant.tpdf_dither(np.random.default_rng(list(s)), clip_len)
                   for s in seeds])


def prepare_clips(wav_rows: np.ndarray, seq_len: int, frame_size: int,
                  q_type: str, q_levels: int,
                  dither: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Quantises clips (``dither``: optional noise [B, W] in levels, see
  ``quantize.quantize``) and lays them out for chunking.

  Returns ``q`` int32 [B, S + n * seq_len] (S = ``frame_size`` samples of
  Q_ZERO first, Q_ZERO padding at the end) and ``mask`` float32
  [B, n * seq_len] (1 on real target samples).
  """
  b, t = wav_rows.shape
  n = num_chunks(t, seq_len)
  qz = quant.q_zero(q_levels)
  q = np.full((b, frame_size + n * seq_len), qz, np.int32)
  q[:, frame_size:frame_size + t] = quant.quantize(wav_rows, q_type, q_levels, dither)
  mask = np.zeros((b, n * seq_len), np.float32)
  mask[:, :t] = 1.0
  return q, mask


def chunk(q: np.ndarray, mask: np.ndarray, i: int, seq_len: int, frame_size: int):
  """Chunk i: int32 [B, seq_len + S] overlapping the previous by S, and its mask."""
  s = i * seq_len
  return q[:, s:s + seq_len + frame_size], mask[:, s:s + seq_len]


def epoch_order(num_clips: int, seed: int, epoch: int) -> np.ndarray:
  """The seeded shuffled clip order of one epoch (same on every process)."""
  return np.random.default_rng([seed, epoch]).permutation(num_clips)


def balanced_order(sid: np.ndarray, seed: int, epoch: int) -> np.ndarray:
  """A seeded epoch in which every class is drawn as often as the largest.

  ``sid`` int32 [N]. A class with fewer clips is drawn in whole shuffled
  passes over its clips, then part of one more, until it has as many draws
  as the largest class; all draws are then shuffled together. Returns
  [n_present_classes * largest] clip rows (same on every process).
  """
  rng = np.random.default_rng([seed, epoch, 1])
  classes, counts = np.unique(sid, return_counts=True)
  most = int(counts.max())
  draws = []
  for c in classes:
    rows = np.flatnonzero(sid == c)
    passes = [rng.permutation(rows) for _ in range(-(-most // len(rows)))]
    draws.append(np.concatenate(passes)[:most])
  return rng.permutation(np.concatenate(draws))


@dataclasses.dataclass(frozen=True)
class Position:
  """Where training stands in the data: derived from the step alone."""
  epoch: int
  batch: int  # index of the batch of clips inside the epoch
  chunk: int  # index of the TBPTT chunk inside the batch


class TrainBatches:
  """Batches of TBPTT chunks in the paper's order, addressable by step.

  Each step is one chunk of one batch of ``batch_size`` clips; batches are
  drawn from a seeded shuffle per epoch, the last partial batch dropped (as
  the original). A step fully determines its data, so resuming at a step
  reproduces the unbroken run's data exactly.

  With several processes, each one materialises only its rows
  (``process_index`` of ``process_count`` equal slices of the batch).

  ``dither``: TPDF dither before quantisation, fresh for every clip and
  epoch (seeded by [seed, epoch, clip]). ``balance``: epochs from
  ``balanced_order`` (every class as often as the largest) instead of one
  pass over the clips. ``cond_dropout``: the share of an epoch's draws
  trained without their class (``sid`` -1 for the whole clip; one stream
  seeded by [seed, epoch, 2], a value a draw), so that the model also learns the unconditional
  distribution that guided sampling (``sampling.generate(guidance=)``) needs.
  ``n_classes``: the model's class count, when given every ``sid`` must be
  below it (a DataError, ``splits.check_split``, as for every split here).

  Known and kept: numpy pads a seed list with zeros, so some of these
  streams coincide: the epoch order [seed, epoch] is clip 0's dither, and
  clips 1 and 2's dither share their streams with the balanced order
  [seed, epoch, 1] and the dropout draws [seed, epoch, 2]. The draws are
  used for unrelated things (a permutation, noise, a threshold), so nothing
  measurable follows; new tags would change every trained run's batches
  (the demo's included), so they stay.
  """

  def __init__(self, split: Split, batch_size: int, seq_len: int, frame_size: int,
               q_type: str, q_levels: int, seed: int,
               process_index: int = 0, process_count: int = 1, dither: bool = False,
               balance: bool = False, cond_dropout: float = 0.0, n_classes: int | None = None):
    check_split(split, n_classes)
    if split.num_clips < batch_size:
      raise DataError(f"{split.path}: {split.num_clips} clips, fewer than "
                      f"config.batch_size={batch_size}; no full batch can be made")
    if batch_size % process_count:
      raise DataError(f"config.batch_size={batch_size} does not divide by the "
                      f"{process_count} processes")
    self.split = split
    self.batch_size = batch_size
    self.seq_len, self.frame_size = seq_len, frame_size
    self.q_type, self.q_levels, self.seed = q_type, q_levels, seed
    self.dither, self.balance, self.cond_dropout = dither, balance, cond_dropout
    self.rows_per_process = batch_size // process_count
    self.row_slice = slice(process_index * self.rows_per_process,
                           (process_index + 1) * self.rows_per_process)
    self.draws_per_epoch = (len(self._order(0)) if balance else split.num_clips)
    self.batches_per_epoch = self.draws_per_epoch // batch_size
    self.chunks_per_batch = num_chunks(split.clip_len, seq_len)
    self.steps_per_epoch = self.batches_per_epoch * self.chunks_per_batch
    self._cache_key = None
    self._cache = None

  def position(self, step: int) -> Position:
    epoch, r = divmod(step, self.steps_per_epoch)
    batch, ch = divmod(r, self.chunks_per_batch)
    return Position(epoch, batch, ch)

  def _order(self, epoch: int) -> np.ndarray:
    if self.balance:
      return balanced_order(np.asarray(self.split.sid), self.seed, epoch)
    return epoch_order(self.split.num_clips, self.seed, epoch)

  def _clips(self, epoch: int, batch: int):
    key = (epoch, batch)
    if self._cache_key != key:
      order = self._order(epoch)
      draws = slice(batch * self.batch_size, (batch + 1) * self.batch_size)
      rows = order[draws][self.row_slice]
      wav_rows = np.asarray(self.split.wav[np.sort(rows)], dtype=np.float64)
      wav_rows = wav_rows[np.argsort(np.argsort(rows))]  # back to shuffled order
      check_finite(self.split, rows, wav_rows)
      noise = (clip_dither([(self.seed, epoch, int(r)) for r in rows], wav_rows.shape[1])
               if self.dither else None)
      q, mask = prepare_clips(wav_rows, self.seq_len, self.frame_size,
                              self.q_type, self.q_levels, noise)
      sid = np.asarray(self.split.sid[rows], np.int32)
      if self.cond_dropout > 0:
        drop = np.random.default_rng([self.seed, epoch, 2]).random(len(order)) < self.cond_dropout
        sid = np.where(drop[draws][self.row_slice], np.int32(-1), sid)
      self._cache_key, self._cache = key, (q, mask, sid)
    return self._cache

  def get(self, step: int) -> dict:
    """The batch of ``step``: this process's rows only."""
    pos = self.position(step)
    q, mask, sid = self._clips(pos.epoch, pos.batch)
    c, m = chunk(q, mask, pos.chunk, self.seq_len, self.frame_size)
    return {"chunk": c, "mask": m, "sid": sid,
            "reset": np.full(len(sid), pos.chunk == 0)}


def eval_batches(split: Split, batch_size: int, seq_len: int, frame_size: int,
                 q_type: str, q_levels: int, process_index: int = 0,
                 process_count: int = 1, dither: bool = False) -> Iterator[dict]:
  """Every clip of a split once, in file order, chunk by chunk.

  The last batch is filled up with masked copies of its first clip so that every
  batch has ``batch_size`` rows (one compiled shape). ``dither``: TPDF dither
  seeded by the clip's row alone, the same at every evaluation.
  """
  rows_pp = batch_size // process_count
  for start in range(0, split.num_clips, batch_size):
    rows = np.arange(start, min(start + batch_size, split.num_clips))
    wav_rows = np.asarray(split.wav[rows], dtype=np.float64)
    check_finite(split, rows, wav_rows)
    real = np.ones(batch_size, np.float32)
    real[len(rows):] = 0.0
    pad = batch_size - len(rows)
    sid = np.asarray(split.sid[rows], np.int32)
    if pad:
      wav_rows = np.concatenate([wav_rows, np.repeat(wav_rows[:1], pad, 0)])
      sid = np.concatenate([sid, np.repeat(sid[:1], pad)])
    noise = None
    if dither:
      noise = clip_dither([(int(r),) for r in np.r_[rows, np.zeros(pad, int)]],
                          wav_rows.shape[1])
    q, mask = prepare_clips(wav_rows, seq_len, frame_size, q_type, q_levels, noise)
    mask *= real[:, None]
    sl = slice(process_index * rows_pp, (process_index + 1) * rows_pp)
    for i in range(num_chunks(split.clip_len, seq_len)):
      c, m = chunk(q, mask, i, seq_len, frame_size)
      yield {"chunk": c[sl], "mask": m[sl], "sid": sid[sl],
             "reset": np.full(rows_pp, i == 0)}
