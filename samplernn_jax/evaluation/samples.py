"""Reading a directory of generated clips, as ``sample.py`` writes it.

Layout: WAV files (16 kHz, mono, float32) and ``manifest.json``, a JSON list
of objects, one per clip, each with at least ``file`` (a name relative to the
directory), ``class`` (class name, or null for a mix of classes),
``class_index`` (int, or null for a mix), ``seed``, ``temperature``, ``step``
and ``seconds``; ``prime_seconds`` (optional) is the length of the --prime
recording a clip begins with, cut off before the evaluation (the clip's
first seconds would otherwise be real audio scored as generated). Labels
come from ``class_index``; when it is null but ``class`` names a class, the
name is looked up (``sample_files.find_class``: as written, else in the
other Unicode form, as macOS' folder names come). Clips with no class
(mixes) are skipped with a note: the evaluation needs one label a clip.

Without a manifest, every top-level ``*.wav`` must be named
``<class name>_<NNN>.wav``; the class name may be written as sample.py
writes it (``sample_files.safe_name``: each run of characters other than
letters, digits, ``_``, ``.`` and ``-`` one ``_``, so
``cafe_restaurant_003.wav`` for ``cafe/restaurant``), in either Unicode form.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from typing import Sequence

import numpy as np

from samplernn_jax import audio
from samplernn_jax.errors import EvalError
from samplernn_jax.files import not_a_folder
# the writer defines the format
from samplernn_jax.sample_files import MANIFEST, find_class, safe_name
from samplernn_jax.workdir import reading_folder


@dataclasses.dataclass
class Clip:
  path: str
  class_index: int
  wav: np.ndarray  # float32 [T]


def read_wav(path: str, sample_rate: int) -> np.ndarray:
  """Mono float32 [T] audio of ``path``; raises EvalError on any mismatch."""
  return audio.read_mono(path, sample_rate, error=EvalError, dtype="float32",
                         why="the classifier's rate, the paper's; "
                         "resample clips of a run at another rate first")


def _prime_seconds(entry: dict, where: str) -> float:
  """The seconds of --prime recording a clip begins with (0 if none)."""
  value = entry.get("prime_seconds") or 0.0
  if (isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0
      or not math.isfinite(value)):
    raise EvalError(f"{where}: 'prime_seconds' is {value!r}; expected a finite number >= 0")
  return float(value)


def _from_manifest(samples_dir: str, class_names: Sequence[str],
                   check_names: bool, notes: list[str]) -> list[tuple[str, int, float]]:
  path = os.path.join(samples_dir, MANIFEST)
  try:
    with open(path, encoding="utf-8") as f:
      entries = json.load(f)
  except (OSError, ValueError) as e:
    raise EvalError(f"{path}: cannot read as JSON ({e})") from e
  if not isinstance(entries, list):
    raise EvalError(f"{path}: expected a JSON list of clip objects; got "
                    f"{type(entries).__name__}")
  n = len(class_names)
  out, mixes = [], 0
  for i, e in enumerate(entries):
    where = f"{path}: entry {i}"
    if not isinstance(e, dict) or not isinstance(e.get("file"), str):
      raise EvalError(f"{where}: expected an object with a string 'file'")
    where += f" ({e['file']})"
    name, idx = e.get("class"), e.get("class_index")
    if idx is not None and (isinstance(idx, bool) or not isinstance(idx, int)):
      raise EvalError(f"{where}: 'class_index' is {idx!r}; expected an int or null")
    if name is not None and not isinstance(name, str):
      raise EvalError(f"{where}: 'class' is {name!r}; expected a string or null")
    found = None if name is None else find_class(name, class_names)
    if idx is None and name is not None:
      if found is None:
        raise EvalError(f"{where}: unknown class {name!r}; the classes of "
                        f"data_dir are {list(class_names)}")
      idx = found
    if idx is None:
      mixes += 1
      continue
    if not 0 <= idx < n:
      raise EvalError(f"{where}: class_index {idx} is not a class of data_dir "
                      f"(expected 0 .. {n - 1})")
    if check_names and name is not None and found != idx:
      raise EvalError(f"{where}: class {name!r} with class_index {idx}, but "
                      f"data_dir names class {idx} {class_names[idx]!r}")
    out.append((os.path.join(samples_dir, e["file"]), idx, _prime_seconds(e, where)))
  if mixes:
    notes.append(f"{path}: skipped {mixes} clip(s) with no class (mixes)")
  primed = sum(1 for *_, p in out if p > 0)
  if primed:
    notes.append(f"{path}: {primed} clip(s) begin with a --prime recording; each is "
                 "evaluated on what follows it")
  return out


def _from_file_names(samples_dir: str, wavs: Sequence[str],
                     class_names: Sequence[str]) -> list[tuple[str, int, float]]:
  safe = [safe_name(name) for name in class_names]
  out = []
  for w in wavs:
    m = re.fullmatch(r"(.+)_(\d+)\.wav", w, flags=re.IGNORECASE)
    idx = None
    if m is not None:  # the name as the data writes it first, then as sample.py writes it
      idx = find_class(m.group(1), class_names)
      idx = find_class(m.group(1), safe) if idx is None else idx
    if idx is None:
      got = repr(m.group(1)) if m else "none"
      raise EvalError(
          f"{os.path.join(samples_dir, w)}: unknown class (from the file name: "
          f"{got}); with no {MANIFEST}, files must be named "
          f"<class>_<NNN>.wav with a class of data_dir: {list(class_names)}")
    out.append((os.path.join(samples_dir, w), idx, 0.0))
  return out


def wav_files(samples_dir: str) -> list[str]:
  """The names of the top-level WAV files of ``samples_dir``, sorted ([]
  when it is not a folder); hidden ones left out (a killed writer's
  temporary files: ``files.atomic_write``)."""
  if not os.path.isdir(samples_dir):
    return []
  return sorted(f for f in os.listdir(samples_dir)
                if f.lower().endswith(".wav") and not f.startswith(".")
                and os.path.isfile(os.path.join(samples_dir, f)))


def read_samples(samples_dir: str, class_names: Sequence[str], sample_rate: int,
                 check_names: bool = True) -> tuple[list[Clip], list[str]]:
  """The labelled clips of a samples directory, and notes on what was skipped.

  Args:
    samples_dir: the directory (``--samples``).
    class_names: the C class names of the real data, in index order.
    sample_rate: the rate every WAV must have.
    check_names: whether a manifest's ``class`` must equal the real data's
      name of its ``class_index`` (only meaningful when the data has a
      ``classes.json``).
  """
  if not os.path.isdir(samples_dir):
    raise EvalError(f"samples_dir {samples_dir}: {not_a_folder(samples_dir)}", "samples_dir")
  with reading_folder(samples_dir) as busy:  # no sample.py starts writing while it is read
    if busy:
      raise _being_written(samples_dir)
    return _read_clips(samples_dir, class_names, sample_rate, check_names)


def _being_written(samples_dir: str) -> EvalError:
  return EvalError(f"samples_dir {samples_dir}: a sample.py is still writing into it (its "
                   "clips are not whole yet); read it when that run has ended", "samples_dir")


def check_not_being_written(samples_dir: str) -> None:
  """EvalError now, before any other work, when a sample.py holds
  ``samples_dir`` (``read_samples`` refuses it too, and holds it while it
  reads)."""
  with reading_folder(samples_dir) as busy:
    if busy:
      raise _being_written(samples_dir)


def _read_clips(samples_dir: str, class_names: Sequence[str], sample_rate: int,
                check_names: bool) -> tuple[list[Clip], list[str]]:
  wavs = wav_files(samples_dir)
  if not wavs:
    raise EvalError(f"samples_dir {samples_dir}: no WAV files (expected the "
                    f"output of sample.py: *.wav plus {MANIFEST})", "samples_dir")
  notes: list[str] = []
  if os.path.isfile(os.path.join(samples_dir, MANIFEST)):
    listed = _from_manifest(samples_dir, class_names, check_names, notes)
  else:
    notes.append(f"{samples_dir}: no {MANIFEST}; classes taken from file names")
    listed = _from_file_names(samples_dir, wavs, class_names)
  if not listed:
    raise EvalError(f"samples_dir {samples_dir}: no clip has a class (all are "
                    "mixes); clips are compared with real ones of their class, so "
                    "each needs one (sample.py --classes rather than --mix)", "samples_dir")
  clips = []
  for path, idx, prime_seconds in listed:
    if not os.path.isfile(path):
      raise EvalError(f"{path}: listed in {MANIFEST} but no such file")
    wav = read_wav(path, sample_rate)[int(round(prime_seconds * sample_rate)):]
    if not wav.size:
      raise EvalError(f"{path}: nothing follows its {prime_seconds:g} s of --prime "
                      "recording to evaluate" if prime_seconds else
                      f"{path}: an empty clip (no samples) to evaluate")
    clips.append(Clip(path=path, class_index=idx, wav=wav))
  return clips, notes
