"""Datasets in the paper's packed form, validated, memory-mapped and batched.

A split is one ``.npz`` file (``audio_train.npz``, ``audio_valid.npz``,
``audio_test.npz``) with two keys:

* ``wav``: float [N, T] (the paper: float16, T = 128 000, mono 16 kHz),
  one row per clip;
* ``sid``: integer [N], the class of each clip, 0 .. n_classes - 1.

An optional ``classes.json`` beside the splits lists the class names in index
order (a JSON list of strings).

``wav`` of an uncompressed npz (``np.savez``) is memory-mapped, so the 1.5 GB
training split is never read into RAM as a whole, let alone twice; a
compressed npz is loaded once.

Shapes: N clips, T samples a clip, B clips a batch, S top frame size,
L = seq_len + S samples a chunk.
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from typing import Iterator, Sequence

import numpy as np

from samplernn_jax import quantize as quant

SPLITS = ("train", "valid", "test")
CLASSES_FILE = "classes.json"
# Class order of the authors' DCASE 2016 code (docs/paper.md); names are metadata.
DCASE2016_CLASSES = (
    "bus", "cafe/restaurant", "car", "city_center", "forest_path",
    "grocery_store", "home", "beach", "library", "metro_station", "office",
    "residential_area", "train", "tram", "park")


class DataError(ValueError):
  """Bad input data; the message names the file and what was expected."""


def split_path(data_dir: str, split: str) -> str:
  return os.path.join(data_dir, f"audio_{split}.npz")


@dataclasses.dataclass
class Split:
  """One split: ``wav`` [N, T] (memory-mapped when possible), ``sid`` [N]."""
  path: str
  wav: np.ndarray  # float [N, T]
  sid: np.ndarray  # int32 [N]

  @property
  def num_clips(self) -> int:
    return int(self.wav.shape[0])

  @property
  def clip_len(self) -> int:
    return int(self.wav.shape[1])


def _npz_member_memmap(path: str, key: str):
  """Memory-map ``key`` of an uncompressed npz; None when it is compressed."""
  with zipfile.ZipFile(path) as zf:
    info = zf.getinfo(key + ".npy")
    if info.compress_type != zipfile.ZIP_STORED:
      return None
  with open(path, "rb") as f:
    f.seek(info.header_offset)
    local = f.read(30)
    if local[:4] != b"PK\x03\x04":
      return None
    name_len = int.from_bytes(local[26:28], "little")
    extra_len = int.from_bytes(local[28:30], "little")
    f.seek(info.header_offset + 30 + name_len + extra_len)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
      shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
      shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    offset = f.tell()
  if dtype.hasobject or fortran:
    return None
  if len(shape) == 0 or int(np.prod(shape)) == 0:
    return np.zeros(shape, dtype)
  return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def load_split(path: str, n_classes: int | None = None,
               min_len: int | None = None) -> Split:
  """Opens and validates one split; raises ``DataError`` naming the problem.

  Args:
    path: the npz file.
    n_classes: when given, every ``sid`` must be below it.
    min_len: when given, clips must hold at least this many samples.
  """
  if not os.path.isfile(path):
    raise DataError(f"{path}: no such file (expected a paper-format npz with "
                    "keys 'wav' and 'sid')")
  try:
    with np.load(path, allow_pickle=False) as z:
      keys = set(z.files)
      for key in ("wav", "sid"):
        if key not in keys:
          raise DataError(f"{path}: missing key {key!r} (found {sorted(keys)}; "
                          "expected 'wav' float [clips, samples] and 'sid' int [clips])")
      sid = z["sid"]
      wav = _npz_member_memmap(path, "wav")
      if wav is None:
        wav = z["wav"]
  except DataError:
    raise
  except Exception as e:  # truncated zip, bad header, pickled object...
    raise DataError(f"{path}: cannot read as an npz file ({type(e).__name__}: {e})") from e
  if wav.ndim != 2:
    raise DataError(f"{path}: key 'wav' has shape {wav.shape}; expected 2-D "
                    "[clips, samples]")
  if not np.issubdtype(wav.dtype, np.floating):
    raise DataError(f"{path}: key 'wav' has dtype {wav.dtype}; expected a float "
                    "dtype (the paper's files are float16)")
  if sid.ndim != 1:
    raise DataError(f"{path}: key 'sid' has shape {sid.shape}; expected 1-D [clips]")
  if not np.issubdtype(sid.dtype, np.integer):
    raise DataError(f"{path}: key 'sid' has dtype {sid.dtype}; expected integers "
                    "(the paper's files are uint8)")
  if wav.shape[0] == 0:
    raise DataError(f"{path}: empty split (key 'wav' holds no clips)")
  if wav.shape[1] == 0:
    raise DataError(f"{path}: key 'wav' has clips of 0 samples; expected audio")
  if sid.shape[0] != wav.shape[0]:
    raise DataError(f"{path}: key 'sid' has {sid.shape[0]} entries but 'wav' has "
                    f"{wav.shape[0]} clips; expected one class per clip")
  if sid.max() > np.iinfo(np.int32).max:
    raise DataError(f"{path}: key 'sid' holds class {int(sid.max())}; expected "
                    "small non-negative class indices")
  if sid.min() < 0 or (n_classes is not None and sid.max() >= n_classes):
    bad = sid[(sid < 0) | (sid >= (n_classes or np.inf))][0]
    raise DataError(f"{path}: key 'sid' holds class {int(bad)}; expected "
                    f"0 .. {(n_classes or 0) - 1} (config.n_classes={n_classes})")
  rows = max(1, (1 << 26) // max(1, wav.shape[1] * wav.dtype.itemsize))  # ~64 MB a block
  for start in range(0, wav.shape[0], rows):
    block = np.asarray(wav[start:start + rows])
    if not np.isfinite(block).all():
      bad = start + int(np.nonzero(~np.isfinite(block).all(axis=1))[0][0])
      raise DataError(f"{path}: key 'wav' row {bad} holds NaN or Inf")
  if min_len is not None and wav.shape[1] < min_len:
    raise DataError(f"{path}: clips hold {wav.shape[1]} samples; expected at least "
                    f"{min_len} (one chunk of config.seq_len)")
  return Split(path=path, wav=wav, sid=sid.astype(np.int32))


def check_finite(split: Split, rows: np.ndarray, wav_rows: np.ndarray) -> None:
  if not np.isfinite(wav_rows).all():
    bad = rows[~np.isfinite(wav_rows).all(axis=1)][0]
    raise DataError(f"{split.path}: key 'wav' row {int(bad)} holds NaN or Inf")


def load_class_names(data_dir: str | None, n_classes: int) -> list[str]:
  """Class names from ``classes.json`` beside the splits, else the indices."""
  path = os.path.join(data_dir, CLASSES_FILE) if data_dir else None
  if path and os.path.isfile(path):
    try:
      with open(path) as f:
        names = json.load(f)
    except (OSError, ValueError) as e:
      raise DataError(f"{path}: cannot read ({e}); expected a JSON list of class names") from e
    if isinstance(names, dict):
      names = names.get("classes")
    if (not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        or len(set(names)) != len(names)):
      raise DataError(f"{path}: expected a JSON list of distinct class-name strings")
    if len(names) < n_classes:
      raise DataError(f"{path}: lists {len(names)} classes; the data needs {n_classes}")
    return list(names)
  return [str(i) for i in range(n_classes)]


def write_class_names(data_dir: str, names: Sequence[str]) -> None:
  path = os.path.join(data_dir, CLASSES_FILE)
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(list(names), f, indent=1)
  os.replace(tmp, path)


# ---------------------------------------------------------------------------
# TBPTT chunking


def num_chunks(clip_len: int, seq_len: int) -> int:
  """Chunks per clip; the last one is padded and masked when T % seq_len != 0."""
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
  """Quantises clips (``dither``: optional noise [B, T] in levels, see
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
  epoch (seeded by [seed, epoch, clip]).
  """

  def __init__(self, split: Split, batch_size: int, seq_len: int, frame_size: int,
               q_type: str, q_levels: int, seed: int,
               process_index: int = 0, process_count: int = 1, dither: bool = False):
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
    self.dither = dither
    self.rows_per_process = batch_size // process_count
    self.row_slice = slice(process_index * self.rows_per_process,
                           (process_index + 1) * self.rows_per_process)
    self.batches_per_epoch = split.num_clips // batch_size
    self.chunks_per_batch = num_chunks(split.clip_len, seq_len)
    self.steps_per_epoch = self.batches_per_epoch * self.chunks_per_batch
    self._cache_key = None
    self._cache = None

  def position(self, step: int) -> Position:
    epoch, r = divmod(step, self.steps_per_epoch)
    batch, ch = divmod(r, self.chunks_per_batch)
    return Position(epoch, batch, ch)

  def _clips(self, epoch: int, batch: int):
    key = (epoch, batch)
    if self._cache_key != key:
      order = epoch_order(self.split.num_clips, self.seed, epoch)
      rows = order[batch * self.batch_size:(batch + 1) * self.batch_size][self.row_slice]
      wav_rows = np.asarray(self.split.wav[np.sort(rows)], dtype=np.float64)
      wav_rows = wav_rows[np.argsort(np.argsort(rows))]  # back to shuffled order
      check_finite(self.split, rows, wav_rows)
      noise = (clip_dither([(self.seed, epoch, int(r)) for r in rows], wav_rows.shape[1])
               if self.dither else None)
      q, mask = prepare_clips(wav_rows, self.seq_len, self.frame_size,
                              self.q_type, self.q_levels, noise)
      self._cache_key, self._cache = key, (q, mask, self.split.sid[rows])
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

  The last batch is filled up with masked copies of clip 0 so that every
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
    sid = split.sid[rows]
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


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKED = ".packed"


def _has_class_folders(data_dir: str) -> bool:
  return any(os.path.isdir(os.path.join(data_dir, e)) and not e.startswith(".")
             for e in os.listdir(data_dir))


def pack_class_folders(data_dir: str) -> str:
  """A folder of class sub-folders of recordings -> its npz splits.

  Packed once (8 s clips, 16 kHz, split by recording 80/10/10, seed 0) into
  ``<data_dir>/.packed/`` and reused afterwards; delete that folder after
  changing the recordings.
  """
  out = os.path.join(data_dir, PACKED)
  if not os.path.isfile(split_path(out, "train")):
    from samplernn_jax import packing
    print(f"packing the recordings of {data_dir} into {out} (once)")
    packing.pack_folder(data_dir, out, overwrite=True, progress=False)
  return out


def resolve_data_dir(data_dir: str, setting: str = "config.data_dir") -> str:
  """The folder holding a run's npz splits, for a ``data_dir`` as a user gives it.

  A relative path that does not exist from here is tried from the repository
  root (the bundled ``data/default`` from another folder); a folder of class
  sub-folders without ``audio_train.npz`` is packed once (``pack_class_folders``)
  and its ``.packed`` folder returned. ``setting`` names the option in errors.
  """
  if not data_dir:
    raise DataError(f"{setting} is empty: expected a folder holding "
                    "audio_train.npz (and audio_valid.npz, audio_test.npz)")
  repo_relative = os.path.join(REPO_ROOT, data_dir)
  if not os.path.isdir(data_dir) and not os.path.isabs(data_dir) and os.path.isdir(repo_relative):
    data_dir = repo_relative  # e.g. the bundled data/default from another cwd
  if not os.path.isdir(data_dir):
    raise DataError(f"{setting}={data_dir!r}: no such folder")
  if not os.path.isfile(split_path(data_dir, "train")) and _has_class_folders(data_dir):
    data_dir = pack_class_folders(data_dir)
  return data_dir


@dataclasses.dataclass
class Dataset:
  """The splits of a run (valid and test may be absent) and class metadata."""
  data_dir: str
  train: Split
  valid: Split | None
  test: Split | None
  class_names: list[str]

  @property
  def n_classes(self) -> int:
    return len(self.class_names)


def open_dataset(data_dir: str, n_classes: int = 0, min_len: int | None = None,
                 synthetic_seed: int = 0) -> Dataset:
  """Opens ``audio_{train,valid,test}.npz`` of ``data_dir`` (train required).

  ``data_dir="synthetic"`` gives the small generated set of ``synthetic.py``.
  ``n_classes`` 0 means: the length of classes.json, else max sid + 1.
  """
  if data_dir == "synthetic":
    from samplernn_jax import synthetic
    splits = {name: synthetic.make_split(name, per, 16000 * 2, synthetic_seed)
              for name, per in (("train", 12), ("valid", 2), ("test", 2))}
    names = list(synthetic.CLASS_NAMES)
    if n_classes and n_classes != len(names):
      raise DataError(f"config.n_classes={n_classes}, but the synthetic data has "
                      f"{len(names)} classes")
    return Dataset(data_dir, splits["train"], splits["valid"], splits["test"], names)
  data_dir = resolve_data_dir(data_dir)
  paths = {s: split_path(data_dir, s) for s in SPLITS}
  if not os.path.isfile(paths["train"]):
    raise DataError(f"{paths['train']}: no such file (config.data_dir must hold "
                    "audio_train.npz)")
  splits = {s: load_split(p, None, min_len) for s, p in paths.items()
            if s == "train" or os.path.isfile(p)}
  if not n_classes:
    if os.path.isfile(os.path.join(data_dir, CLASSES_FILE)):
      n_classes = len(load_class_names(data_dir, 0))
    else:
      n_classes = max(int(sp.sid.max()) for sp in splits.values()) + 1
  for sp in splits.values():
    if sp.sid.max() >= n_classes:
      raise DataError(f"{sp.path}: key 'sid' holds class {int(sp.sid.max())}; expected "
                      f"0 .. {n_classes - 1} (config.n_classes={n_classes})")
  names = load_class_names(data_dir, n_classes)[:n_classes]
  return Dataset(data_dir, splits["train"], splits.get("valid"), splits.get("test"), names)
