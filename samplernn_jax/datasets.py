"""Finding a run's data: a ``data_dir`` as a user gives it -> its splits.

``data_dir`` may be a folder of npz splits (``splits.py``), a folder of class
sub-folders of recordings (packed once by ``packing.py`` into its
``.packed/``), a path relative to the repository root (the bundled
``data/default`` from any folder), or ``synthetic`` (``synthetic.py``).
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os

from absl import logging

from samplernn_jax import files, packing, synthetic
from samplernn_jax.errors import DataError
from samplernn_jax.splits import (CLASSES_FILE, SPLITS, Split, load_class_names,
                                  load_split, split_path)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKED = ".packed"
SOURCE_FILE = "source.json"  # in PACKED: the fingerprint of the recordings packed


def _has_class_folders(data_dir: str) -> bool:
  return any(os.path.isdir(os.path.join(data_dir, e)) and not e.startswith(".")
             for e in os.listdir(data_dir))


def recordings_fingerprint(data_dir: str) -> str:
  """sha256 over the recordings the packer reads (``packing.class_files`` of
  each class folder, nested folders included): path, size and modification
  time of each (reading only the folder listings, not the audio: a run's
  start-up stays fast with gigabytes of recordings). A file written again gets
  a new time, so any change, addition or removal changes the fingerprint."""
  h = hashlib.sha256()
  for cls in sorted(e for e in os.listdir(data_dir) if not e.startswith(".")):
    folder = os.path.join(data_dir, cls)
    if not os.path.isdir(folder):
      continue
    for path in packing.class_files(folder):
      st = os.stat(path)
      name = os.path.relpath(path, data_dir)
      h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
  return h.hexdigest()


def pack_class_folders(data_dir: str) -> str:
  """A folder of class sub-folders of recordings -> its npz splits.

  Packed (8 s clips, 16 kHz, split by recording 80/10/10, seed 0) into
  ``<data_dir>/.packed/``, with a fingerprint of the recordings
  (``SOURCE_FILE``); reused while the recordings are the same, packed again
  when a recording is added, removed or changed.
  """
  out = os.path.join(data_dir, PACKED)
  # One packer at a time (the processes of a multi-host run, or two runs, on
  # one folder): the others wait, then find the fingerprint written.
  with contextlib.ExitStack() as stack:
    try:
      stack.enter_context(files.exclusive(os.path.join(data_dir, PACKED + ".lock"), "packing"))
    except OSError as e:
      if _packed_from(out) == recordings_fingerprint(data_dir):
        return out  # a read-only folder packed before: nothing to write
      raise DataError(f"data_dir={data_dir}: cannot create or lock {PACKED}.lock in it "
                      f"to pack its class folders ({e.strerror}); pack them elsewhere with "
                      "scripts/pack_folder.py and give that folder as data_dir") from e
    fingerprint = recordings_fingerprint(data_dir)
    packed_from = _packed_from(out)
    if packed_from != fingerprint:
      logging.warning("packing the recordings of %s into %s%s", data_dir, out,
                      " (they changed)" if packed_from else "")
      summary = packing.pack_folder(data_dir, out, overwrite=True, progress=False)
      logging.warning("%s", packing.format_summary(summary))
      files.write_json(os.path.join(out, SOURCE_FILE), {"recordings": fingerprint})
  return out


def _packed_from(out: str) -> str | None:
  """The fingerprint of the recordings ``out`` was packed from; None when it
  holds no complete packing (no fingerprint, or no train split)."""
  try:
    with open(os.path.join(out, SOURCE_FILE), encoding="utf-8") as f:
      packed_from = json.load(f).get("recordings")
  except (OSError, ValueError, AttributeError):
    return None
  return packed_from if os.path.isfile(split_path(out, "train")) else None


def locate(data_dir: str) -> str:
  """``data_dir`` as given, or, for a relative path that is no folder from
  here but is one from the repository root (the bundled ``data/default``
  from another folder), that one."""
  repo_relative = os.path.join(REPO_ROOT, data_dir)
  if not os.path.isdir(data_dir) and not os.path.isabs(data_dir) and os.path.isdir(repo_relative):
    return repo_relative
  return data_dir


def check_made_rate(what: str, sample_rate: int | None) -> None:
  """Refuses a ``config.sample_rate`` other than the rate of data made here
  (synthetic clips, packed class folders: 16 kHz); None checks nothing.
  Trained at 16 kHz, the WAVs would be labelled and played at the other rate."""
  if sample_rate is not None and sample_rate != packing.DEFAULT_SAMPLE_RATE:
    raise DataError(
        f"config.sample_rate={sample_rate}, but {what} is made at "
        f"{packing.DEFAULT_SAMPLE_RATE} Hz; pack the recordings at {sample_rate} Hz "
        f"with scripts/pack_folder.py --sample_rate={sample_rate} and give its --out "
        "as config.data_dir")


def resolve_data_dir(data_dir: str, setting: str = "data_dir",
                     sample_rate: int | None = None) -> str:
  """The folder holding a run's npz splits, for a ``data_dir`` as a user gives it.

  A relative path that does not exist from here is tried from the repository
  root (the bundled ``data/default`` from another folder); a folder of class
  sub-folders without ``audio_train.npz`` is packed (``pack_class_folders``, again
  only when its recordings changed) and its ``.packed`` folder returned, once
  ``sample_rate`` (when given) is checked to be the packing's (``check_made_rate``).
  ``setting`` names the option in errors.
  """
  if not data_dir:
    raise DataError(f"{setting} is empty: expected a folder holding "
                    "audio_train.npz (and audio_valid.npz, audio_test.npz)")
  data_dir = locate(data_dir)
  if not os.path.isdir(data_dir):
    raise DataError(f"{setting}={data_dir!r}: {files.not_a_folder(data_dir)} (expected one "
                    "holding audio_train.npz or class folders of recordings, e.g. data/default; "
                    "or synthetic; DCASE 2016: scripts/pack_dcase2016.py packs it)")
  if not os.path.isfile(split_path(data_dir, "train")) and _has_class_folders(data_dir):
    check_made_rate(f"{setting}={data_dir} (class folders, packed on first use)", sample_rate)
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
                 synthetic_seed: int = 0, sample_rate: int | None = None,
                 setting: str = "config.data_dir",
                 n_classes_setting: str = "config.n_classes",
                 rate_setting: str = "config.sample_rate") -> Dataset:
  """Opens ``audio_{train,valid,test}.npz`` of ``data_dir`` (train required).

  A folder of class sub-folders of recordings is packed first, once, into
  ``<data_dir>/.packed/`` (``resolve_data_dir``; minutes for hours of audio,
  with a lock file for concurrent starts); later calls reuse it.

  ``data_dir="synthetic"`` gives the small generated set of ``synthetic.py``
  (drawn with ``synthetic_seed``: train.py passes ``config.seed``).
  ``n_classes`` 0 means: the length of classes.json, else max sid + 1.
  ``sample_rate`` (config.sample_rate): refused when the data is made here at
  another rate (``check_made_rate``), or npz splits that record another
  (``load_split``; the paper's files record none).
  ``setting`` names the option in errors (a script's ``--data_dir``),
  ``n_classes_setting`` the one ``n_classes`` came from, ``rate_setting``
  what asks for ``sample_rate`` (``load_split``).
  """
  if data_dir == "synthetic":
    check_made_rate(f"{setting}=synthetic", sample_rate)
    splits = {name: synthetic.make_split(name, per, 16000 * 2, synthetic_seed)
              for name, per in (("train", 12), ("valid", 2), ("test", 2))}
    names = list(synthetic.CLASS_NAMES)
    if n_classes and n_classes != len(names):
      raise DataError(f"{n_classes_setting}={n_classes}, but the synthetic data has "
                      f"{len(names)} classes")
    return Dataset(data_dir, splits["train"], splits["valid"], splits["test"], names)
  data_dir = resolve_data_dir(data_dir, setting, sample_rate)
  paths = {s: split_path(data_dir, s) for s in SPLITS}
  if not os.path.isfile(paths["train"]):
    raise DataError(f"{paths['train']}: no such file ({setting} must hold "
                    "audio_train.npz, or class folders of recordings)")
  splits = {s: load_split(p, None, min_len, sample_rate, rate_setting)
            for s, p in paths.items() if s == "train" or os.path.isfile(p)}
  source = f"{n_classes_setting}={n_classes}"
  if not n_classes:
    names_file = os.path.join(data_dir, CLASSES_FILE)
    if os.path.isfile(names_file):
      n_classes = len(load_class_names(data_dir, 0))
      source = f"{names_file} lists {n_classes} classes"
    else:
      n_classes = max(int(sp.sid.max()) for sp in splits.values()) + 1
  for sp in splits.values():
    if sp.sid.max() >= n_classes:
      raise DataError(f"{sp.path}: key 'sid' holds class {int(sp.sid.max())}; expected "
                      f"0 .. {n_classes - 1} ({source})")
  names = load_class_names(data_dir, n_classes)[:n_classes]
  return Dataset(data_dir, splits["train"], splits.get("valid"), splits.get("test"), names)
