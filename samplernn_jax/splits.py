"""Datasets in the paper's packed form: one npz file a split, validated and
memory-mapped.

A split is one ``.npz`` file (``audio_train.npz``, ``audio_valid.npz``,
``audio_test.npz``) with two keys,

* ``wav``: float [N, W] (the paper: float16, W = 128 000, mono 16 kHz),
  one row per clip;
* ``sid``: integer [N], the class of each clip, 0 .. n_classes - 1;

and, in the files the packers here write (not the paper's), a third:

* ``sample_rate``: integer [], the rate the clips were packed at; a config
  of another ``sample_rate`` is refused (``load_split``).

An optional ``classes.json`` beside the splits lists the class names in index
order (a JSON list of strings).

``wav`` of an uncompressed npz (``np.savez``) is memory-mapped, so the 1.5 GB
training split is never read into RAM as a whole, let alone twice; a
compressed npz is loaded once.

Shapes: N clips, W samples a clip (model.py's glossary).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from typing import Sequence

import numpy as np

from samplernn_jax import audio, files
from samplernn_jax.errors import DataError

SPLITS = ("train", "valid", "test")
CLASSES_FILE = "classes.json"
# Class order of the authors' DCASE 2016 code (docs/paper.md); names are metadata.
DCASE2016_CLASSES = (
    "bus", "cafe/restaurant", "car", "city_center", "forest_path",
    "grocery_store", "home", "beach", "library", "metro_station", "office",
    "residential_area", "train", "tram", "park")


def split_path(data_dir: str, split: str) -> str:
  return os.path.join(data_dir, f"audio_{split}.npz")


@dataclasses.dataclass
class Split:
  """One split: ``wav`` [N, W] (memory-mapped when possible), ``sid`` [N]."""
  path: str
  wav: np.ndarray  # float [N, W]
  sid: np.ndarray  # int32 [N]
  sample_rate: int | None = None  # Hz, where the file records it (packed here)

  @property
  def num_clips(self) -> int:
    return int(self.wav.shape[0])

  @property
  def clip_len(self) -> int:
    return int(self.wav.shape[1])

  def content_sha1(self, rows: int = 256) -> str:
    """sha1 of the labels and every sample, ``rows`` clips at a time (a
    memory-mapped split is never read whole; about a GB a second)."""
    h = hashlib.sha1(np.ascontiguousarray(self.sid).tobytes())
    for i in range(0, self.num_clips, rows):
      h.update(np.ascontiguousarray(self.wav[i:i + rows]).tobytes())
    return h.hexdigest()


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
               min_len: int | None = None, sample_rate: int | None = None,
               rate_setting: str = "config.sample_rate") -> Split:
  """Opens and validates one split; raises ``DataError`` naming the problem.

  Args:
    path: the npz file.
    n_classes: when given, every ``sid`` must be below it.
    min_len: when given, clips must hold at least this many samples.
    sample_rate: when given (config.sample_rate), a file that records the
      rate it was packed at (key ``sample_rate``, written by the packers
      here; the paper's files have none) must record this one.
    rate_setting: what asks for ``sample_rate``, for the refusal: a
      ``config.`` key can also be set to the file's rate; anything else (an
      evaluation's fixed rate) cannot.
  """
  if not os.path.isfile(path):
    raise DataError(f"{path}: no such file (expected a paper-format npz with "
                    "keys 'wav' and 'sid')")
  wav, sid, rate = _read_npz(path)
  _check_arrays(path, wav, sid, n_classes)
  if sample_rate is not None and rate is not None and rate != sample_rate:
    or_set = (f", or set {rate_setting}={rate}" if rate_setting.startswith("config.")
              else "")
    raise DataError(f"{path}: packed at {rate} Hz, but {sample_rate} Hz is asked for "
                    f"({rate_setting}); pack the recordings again at {sample_rate} Hz "
                    f"(pack_folder.py --sample_rate={sample_rate}){or_set}")
  _check_finite_rows(path, wav)
  if min_len is not None and wav.shape[1] < min_len:
    raise DataError(f"{path}: clips hold {wav.shape[1]} samples; expected at least "
                    f"{min_len} (one chunk of config.seq_len)")
  return Split(path=path, wav=wav, sid=sid.astype(np.int32), sample_rate=rate)


def _read_npz(path: str) -> tuple[np.ndarray, np.ndarray, int | None]:
  """``wav`` (memory-mapped when stored uncompressed), ``sid`` and the
  recorded ``sample_rate`` (None: not recorded) of an npz."""
  try:
    with np.load(path, allow_pickle=False) as z:
      keys = set(z.files)
      for key in ("wav", "sid"):
        if key not in keys:
          raise DataError(f"{path}: missing key {key!r} (found {sorted(keys)}; "
                          "expected 'wav' float [clips, samples] and 'sid' int [clips])")
      sid = z["sid"]
      rate = int(z["sample_rate"]) if "sample_rate" in keys else None
      wav = _npz_member_memmap(path, "wav")
      if wav is None:
        wav = z["wav"]
  except DataError:
    raise
  except Exception as e:  # truncated zip, bad header, pickled object...
    raise DataError(f"{path}: cannot read as an npz file ({type(e).__name__}: {e})") from e
  return wav, sid, rate


def check_split(split: Split, n_classes: int | None = None) -> None:
  """DataError unless ``split`` holds what a loaded one does (``wav`` float
  [N, W], ``sid`` integers [N], each below ``n_classes`` when given): for a
  Split built in code, whose out-of-range class would otherwise train or be
  scored as no class at all (``jax.nn.one_hot`` gives it the zero vector)."""
  _check_arrays(split.path, split.wav, np.asarray(split.sid), n_classes)


def _check_arrays(path: str, wav: np.ndarray, sid: np.ndarray, n_classes: int | None) -> None:
  """Shapes, dtypes and class indices of a split's arrays."""
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


def _bad_row_error(path: str, row: int, samples: np.ndarray) -> DataError:
  what = ("NaN or Inf" if not np.isfinite(samples).all() else
          f"a sample of magnitude {np.abs(samples).max():.3g}, beyond {audio.MAX_ABS:.3g}")
  return DataError(f"{path}: key 'wav' row {row} holds {what}")


CHECK_BLOCK_BYTES = 1 << 26  # _check_finite_rows reads this much of the samples at a time


def _check_finite_rows(path: str, wav: np.ndarray) -> None:
  """Every sample finite and within ``audio.MAX_ABS``; read in blocks of about
  ``CHECK_BLOCK_BYTES`` (64 MB; wav may be a memmap)."""
  rows = max(1, CHECK_BLOCK_BYTES // max(1, wav.shape[1] * wav.dtype.itemsize))
  for start in range(0, wav.shape[0], rows):
    block = np.asarray(wav[start:start + rows])
    bad = audio.bad_rows(block)
    if bad.any():
      i = int(np.nonzero(bad)[0][0])
      raise _bad_row_error(path, start + i, block[i])


def check_finite(split: Split, rows: np.ndarray, wav_rows: np.ndarray) -> None:
  bad = audio.bad_rows(wav_rows)
  if bad.any():
    i = int(np.nonzero(bad)[0][0])
    raise _bad_row_error(split.path, int(rows[i]), wav_rows[i])


def load_class_names(data_dir: str | None, n_classes: int) -> list[str]:
  """Class names from ``classes.json`` beside the splits, else the indices."""
  path = os.path.join(data_dir, CLASSES_FILE) if data_dir else None
  if path and os.path.isfile(path):
    try:
      with open(path, encoding="utf-8") as f:
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
  files.write_json(os.path.join(data_dir, CLASSES_FILE), list(names))
