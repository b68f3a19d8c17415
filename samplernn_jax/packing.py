"""Packing raw audio into the paper's npz splits (``audio_{train,valid,test}.npz``).

Two sources are supported, each by one entry point:

* ``pack_dcase2016``: the TUT Acoustic Scenes 2016 release (``meta.txt`` and
  ``evaluation_setup/fold{N}_{train,evaluate,test}.txt``);
* ``pack_folder``: any tree with one sub-folder per class.

Every recording is read with soundfile (WAV, FLAC, OGG, ...), averaged to
mono, resampled with a polyphase filter (``scipy.signal.resample_poly``) to
``sample_rate`` and cut into non-overlapping clips of ``clip_len`` samples;
the remainder shorter than a clip is dropped. A recording shorter than one
clip is an error. Each split is written as ``np.savez`` writes it
(uncompressed zip; ``wav`` float16 [N, clip_len], ``sid`` uint8 [N],
``sample_rate`` int64 []) but streamed clip by clip, so memory stays at one
recording.

Safety:

* every input is checked (labels, folders, audio headers, lengths, splits
  disjoint by recording) before anything is written, and an output folder
  that already holds ``*.npz`` files is refused unless ``overwrite``: a bad
  input never touches existing outputs;
* each split is first written to a hidden temporary file and renamed
  (``os.replace``) to a hidden staged file named after a signature of the
  job; only when every split is staged are they renamed to their final names.
  An interrupted run leaves no corrupt npz, and rerunning the same command
  reuses the staged splits (restart).

Shapes: N clips, W = clip_len samples a clip, C classes (model.py's glossary).
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import math
import os
import re
import zipfile
from typing import Iterable, Iterator, Sequence

import numpy as np
from absl import logging
import soundfile as sf

from samplernn_jax.errors import DataError
from samplernn_jax.files import not_a_folder
from samplernn_jax.progress import bar as progress_bar
from samplernn_jax.splits import (DCASE2016_CLASSES, SPLITS, load_split, split_path,
                                  write_class_names)

DEFAULT_SAMPLE_RATE = 16000
MIN_SAMPLE_RATE = 1000  # below this a rate is a typo, not audio (pack_folder.py --sample_rate 7)
DEFAULT_CLIP_SECONDS = 8.0
WAV_DTYPE = np.dtype("<f2")  # the paper's float16
SID_DTYPE = np.dtype("uint8")
_STAGE_RE = re.compile(r"^\.audio_\w+\.npz\.[0-9a-f]+\.staged(\.writing)?$")


@dataclasses.dataclass(frozen=True)
class Recording:
  """One source file; all its clips go to one split."""
  path: str   # absolute path of the audio file
  sid: int    # class index
  group: str  # recordings of one group (e.g. a TUT location) share a split


# ---------------------------------------------------------------------------
# Audio: reading, mono, resampling, clips


def _not_audio(path: str, e: Exception) -> DataError:
  return DataError(f"{path}: not an audio file soundfile can read "
                   f"({type(e).__name__}: {e}); expected WAV, FLAC, OGG or another "
                   "libsndfile format")


def read_mono(path: str) -> tuple[np.ndarray, int]:
  """Reads any soundfile format; returns float64 [n] (channels averaged), rate."""
  if not os.path.isfile(path):
    raise DataError(f"{path}: no such audio file")
  try:
    x, sr = sf.read(path, dtype="float64", always_2d=True)
  except Exception as e:  # libsndfile: unknown format, truncated file...
    raise _not_audio(path, e) from e
  return x.mean(axis=1), int(sr)


def _ratio(sr_in: int, sr_out: int) -> tuple[int, int]:
  g = math.gcd(int(sr_in), int(sr_out))
  return int(sr_out) // g, int(sr_in) // g


def resampled_length(n: int, sr_in: int, sr_out: int) -> int:
  """Length of ``resample(x, sr_in, sr_out)`` for ``len(x) == n``."""
  up, down = _ratio(sr_in, sr_out)
  return -(-n * up // down)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
  """Polyphase resampling (anti-aliasing FIR, Kaiser window) of float [n]."""
  if sr_in == sr_out:
    return np.asarray(x, np.float64)
  # imported here: scipy.signal takes about 1 s to import, and every train.py,
  # evaluate.py and score.py start imported it through datasets.py
  from scipy import signal
  up, down = _ratio(sr_in, sr_out)
  return signal.resample_poly(np.asarray(x, np.float64), up, down)


def cut_clips(x: np.ndarray, clip_len: int) -> np.ndarray:
  """Non-overlapping clips [len(x) // clip_len, clip_len]; the remainder is dropped."""
  k = len(x) // clip_len
  return np.reshape(x[:k * clip_len], (k, clip_len))


def probe(path: str, sample_rate: int, clip_len: int) -> tuple[int, float]:
  """(clips the file will give, its length in seconds), from its header;
  errors for what is not audio. A file shorter than one clip gives 0 clips
  (``pack`` names every such file at once)."""
  if not os.path.isfile(path):
    raise DataError(f"{path}: no such audio file")
  try:
    info = sf.info(path)
  except Exception as e:
    raise _not_audio(path, e) from e
  if info.frames <= 0 or info.samplerate <= 0:
    raise DataError(f"{path}: holds no audio frames")
  k = resampled_length(info.frames, info.samplerate, sample_rate) // clip_len
  return k, info.frames / info.samplerate


def short_files_error(short: dict[str, float], sample_rate: int, clip_len: int) -> DataError:
  """One error naming the recordings (path -> seconds) shorter than one clip."""
  listed = ", ".join(f"{p} ({sec:.3f} s)" for p, sec in list(short.items())[:5])
  more = f" and {len(short) - 5} more" if len(short) > 5 else ""
  return DataError(
      f"{len(short)} recording(s) shorter than one clip ({clip_len / sample_rate:g} s = "
      f"{clip_len} samples at {sample_rate} Hz): {listed}{more}; remove them, or pack "
      "with shorter clips (the packing scripts' --clip_seconds; for a class folder "
      "given as data_dir, scripts/pack_folder.py, then its --out as data_dir)")


def load_clips(path: str, sample_rate: int, clip_len: int,
               expected: int | None = None) -> np.ndarray:
  """The clips of one file: float16 [k, clip_len], mono, at ``sample_rate``."""
  x, sr = read_mono(path)
  clips = cut_clips(resample(x, sr, sample_rate), clip_len)
  if expected is not None and len(clips) != expected:
    raise DataError(f"{path}: decoded {len(clips)} clips but its header promised "
                    f"{expected}; the file is damaged or its header is wrong")
  if not np.isfinite(clips).all():
    raise DataError(f"{path}: holds NaN or Inf samples")
  peak, limit = (float(np.abs(clips).max()) if clips.size else 0.0,
                 float(np.finfo(WAV_DTYPE).max))
  if peak > limit:  # the cast would write them as Inf
    raise DataError(f"{path}: samples reach {peak:g}, beyond what the packed splits' "
                    f"{np.dtype(WAV_DTYPE).name} holds (+-{limit:g}); "
                    "scale the recording to about +-1 (a float WAV's full scale)")
  return clips.astype(WAV_DTYPE)


def clip_length(clip_seconds: float, sample_rate: int) -> int:
  if sample_rate < MIN_SAMPLE_RATE:
    raise DataError(f"sample_rate={sample_rate}: expected a rate in Hz of at least "
                    f"{MIN_SAMPLE_RATE} (the paper's is {DEFAULT_SAMPLE_RATE})")
  if not (clip_seconds > 0 and math.isfinite(clip_seconds)):
    raise DataError(f"clip_seconds={clip_seconds}: expected a positive, finite length")
  clip_len = int(round(clip_seconds * sample_rate))
  if clip_len < 1:
    raise DataError(f"clip_seconds={clip_seconds}: expected a positive length "
                    f"of at least one sample at {sample_rate} Hz")
  return clip_len


# ---------------------------------------------------------------------------
# Splits


def check_disjoint(plan: dict[str, list[Recording]]) -> None:
  """Every recording in one split only, once; fails loudly otherwise."""
  seen: dict[str, str] = {}
  for split, recs in plan.items():
    for r in recs:
      key = os.path.realpath(r.path)
      if key in seen:
        where = ("twice in split " + split if seen[key] == split
                 else f"in splits {seen[key]!r} and {split!r}")
        raise DataError(f"{r.path}: listed {where}; every recording must give "
                        "clips to exactly one split")
      seen[key] = split


def shared_groups(plan: dict[str, list[Recording]]) -> list[tuple[str, str, str]]:
  """(group, split, split) for groups found in two splits."""
  where: dict[str, str] = {}
  out = []
  for split, recs in plan.items():
    for g in sorted({r.group for r in recs}):
      if g in where and where[g] != split:
        out.append((g, where[g], split))
      where.setdefault(g, split)
  return out


def assign_splits(recs: Sequence[Recording], fractions: dict[str, float],
                  rest: str, seed: int) -> dict[str, list[Recording]]:
  """Seeded split by group, stratified by class.

  For each class, its groups are shuffled and ``round(fraction * n)`` of them
  go to each split of ``fractions``; the others go to ``rest``. Each class keeps
  at least one group in ``rest``. A split that is empty overall but has a
  positive fraction then takes one group from the class with most groups in
  ``rest`` (when one has two or more), so every split is non-empty when
  possible.
  """
  by_class: dict[int, dict[str, list[Recording]]] = {}
  for r in recs:
    by_class.setdefault(r.sid, {}).setdefault(r.group, []).append(r)
  names = list(fractions) + [rest]
  groups = {s: {} for s in names}  # split -> class -> [group]
  for sid in sorted(by_class):
    gs = sorted(by_class[sid])
    gs = [gs[i] for i in np.random.default_rng([seed, sid]).permutation(len(gs))]
    start = 0
    for s, frac in fractions.items():
      n = min(int(math.floor(frac * len(gs) + 0.5)), len(gs) - 1 - start)
      n = max(n, 0)
      groups[s][sid] = gs[start:start + n]
      start += n
    groups[rest][sid] = gs[start:]
  for s, frac in fractions.items():
    if frac > 0 and not any(groups[s].values()):
      donors = [sid for sid in sorted(by_class) if len(groups[rest][sid]) >= 2]
      if donors:
        sid = max(donors, key=lambda c: len(groups[rest][c]))
        groups[s][sid] = [groups[rest][sid].pop()]
  return {s: [r for sid in sorted(by_class) for g in groups[s].get(sid, [])
              for r in by_class[sid][g]] for s in names}


# ---------------------------------------------------------------------------
# Output folder, npz writing, summary


def _signature(plan: dict[str, list[Recording]], class_names: Sequence[str],
               sample_rate: int, clip_len: int) -> str:
  items = {}
  for split, recs in plan.items():
    rows = []
    for r in recs:
      st = os.stat(r.path)
      rows.append([os.path.realpath(r.path), st.st_size, st.st_mtime_ns, r.sid])
    items[split] = rows
  blob = json.dumps({"classes": list(class_names), "sample_rate": sample_rate,
                     "clip_len": clip_len, "plan": items}, sort_keys=True)
  return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _staged(out_dir: str, split: str, sig: str) -> str:
  """Hidden name of a finished split of job ``sig``, before its final rename."""
  return os.path.join(out_dir, f".audio_{split}.npz.{sig}.staged")


def check_output_dir(out_dir: str, overwrite: bool, sig: str | None = None) -> bool:
  """Refuses a folder holding ``*.npz`` unless ``overwrite``; True when resuming.

  A folder holding staged splits of the same job (``sig``) is an interrupted
  run of this command; that run already passed this check, so it resumes.
  """
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise DataError(f"out_dir {out_dir}: exists and is not a folder")
  if not os.path.isdir(out_dir):
    return False
  resuming = bool(sig) and bool(glob.glob(_staged(glob.escape(out_dir), "*", sig)))
  existing = sorted(os.path.basename(p) for p in glob.glob(os.path.join(glob.escape(out_dir), "*.npz")))
  if existing and not overwrite and not resuming:
    raise DataError(f"out_dir {out_dir}: already holds {', '.join(existing)}; pass "
                    "--overwrite (overwrite=True in Python) to replace them (nothing "
                    "was written)")
  return resuming


def write_npz(path: str, clip_len: int, num_clips: int,
              blocks: Iterable[np.ndarray], sid: np.ndarray,
              sample_rate: int | None = None) -> None:
  """Writes ``wav`` [num_clips, clip_len] float16 from row blocks, then ``sid``
  and (when given) ``sample_rate``, the rate the clips were packed at.

  The file is the one ``np.savez(path, wav=..., sid=..., sample_rate=...)``
  gives (an uncompressed zip of .npy members, so ``wav`` can be
  memory-mapped), written through ``path + '.writing'`` and ``os.replace``.
  The paper's files have no ``sample_rate``; the loaders ignore it but
  for refusing another rate than the config's (``splits.load_split``).
  """
  tmp = path + ".writing"
  try:
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
      with zf.open("wav.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(WAV_DTYPE),
                "fortran_order": False, "shape": (int(num_clips), int(clip_len))})
        rows = 0
        for block in blocks:
          block = np.ascontiguousarray(block, WAV_DTYPE)
          if block.ndim != 2 or block.shape[1] != clip_len:
            raise ValueError(f"block of shape {block.shape}; expected [k, {clip_len}]")
          rows += block.shape[0]
          if rows > num_clips:
            break
          f.write(block.tobytes())
        if rows != num_clips:
          raise ValueError(f"{path}: got {rows} clips, expected {num_clips}")
      with zf.open("sid.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array(f, np.asarray(sid, SID_DTYPE), allow_pickle=False)
      if sample_rate is not None:
        with zf.open("sample_rate.npy", "w") as f:
          np.lib.format.write_array(f, np.asarray(sample_rate, np.int64), allow_pickle=False)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def format_summary(summary: dict) -> str:
  names = summary["classes"]
  splits = [s for s in SPLITS if s in summary["splits"]]
  w = max([len("recordings")] + [len(n) for n in names])
  lines = [f"{summary['out']}: clips of {summary['clip_seconds']:g} s at "
           f"{summary['sample_rate']} Hz",
           f"{'class':<{w}}  " + "  ".join(f"{s:>7}" for s in splits)]
  for c, name in enumerate(names):
    lines.append(f"{name:<{w}}  " + "  ".join(
        f"{summary['splits'][s]['per_class'][c]:>7}" for s in splits))
  lines.append(f"{'clips':<{w}}  " + "  ".join(
      f"{summary['splits'][s]['clips']:>7}" for s in splits))
  lines.append(f"{'recordings':<{w}}  " + "  ".join(
      f"{summary['splits'][s]['recordings']:>7}" for s in splits))
  lines.append(f"{'hours':<{w}}  " + "  ".join(
      f"{summary['splits'][s]['seconds'] / 3600:>7.2f}" for s in splits))
  lines.append(f"total: {sum(summary['splits'][s]['clips'] for s in splits)} clips, "
               f"{summary['duration_s'] / 3600:.2f} h ({summary['duration_s']:.0f} s)")
  unused = summary.get("recorded_s", 0.0) - summary["duration_s"]
  if unused >= 0.5:  # what follows each recording's last whole clip
    lines.append(f"not used: {unused:.0f} s of the {summary['recorded_s']:.0f} s recorded "
                 f"({100 * unused / summary['recorded_s']:.0f} %), the end of each "
                 "recording after its last whole clip")
  constant = {s: summary["splits"][s].get("constant", 0) for s in splits}
  if any(constant.values()):
    lines.append("WARNING: clips of one constant value (silence) in " + ", ".join(
        f"{s} {k}" for s, k in constant.items() if k) + ": they teach the model that "
        "silence lasts; remove their recordings, or train with config.trim_quiet, "
        "which drops them (docs/quality.md)")
  for s in summary["empty"]:
    name = os.path.basename(split_path("", s))
    lines.append(f"WARNING: split {s!r} is empty; {name} was not written" +
                 (" (the old one was removed)" if s in summary.get("removed", ()) else ""))
  for s in splits:  # a class with too few recordings to give every split one
    counts = summary["splits"][s]["per_class"]
    missing = [n for n, k in zip(names, counts) if k == 0]
    if missing and sum(counts):
      lines.append(f"WARNING: split {s!r} holds no clip of {', '.join(missing)} (too few "
                   "recordings to split); its cost speaks for the other classes only")
  return "\n".join(lines)


def pack(plan: dict[str, list[Recording]], class_names: Sequence[str], out_dir: str,
         sample_rate: int, clip_len: int, overwrite: bool = False,
         progress: bool = True) -> dict:
  """Checks every input, then writes the non-empty splits of ``plan`` to ``out_dir``.

  Returns the summary (``format_summary`` prints it): per split the clips
  per class, clips, recordings and seconds.
  """
  if len(class_names) > np.iinfo(SID_DTYPE).max + 1:
    raise DataError(f"{len(class_names)} classes; sid is uint8, so at most 256")
  for split in plan:
    if split not in SPLITS:
      raise DataError(f"unknown split {split!r}; expected one of {SPLITS}")
  check_disjoint(plan)
  sig = _signature(plan, class_names, sample_rate, clip_len)
  resuming = check_output_dir(out_dir, overwrite, sig)
  # Read every header before writing anything: a bad file fails here.
  counts, seconds = {}, {}
  todo = [r for s in plan for r in plan[s]]
  for r in progress_bar(todo, desc="checking", unit="file", disable=not progress):
    counts[r.path], seconds[r.path] = probe(r.path, sample_rate, clip_len)
  short = {p: sec for p, sec in seconds.items() if counts[p] == 0}
  if short:
    raise short_files_error(short, sample_rate, clip_len)
  os.makedirs(out_dir, exist_ok=True)
  keep = {os.path.basename(_staged(out_dir, s, sig)) for s in SPLITS}
  for name in os.listdir(out_dir):  # leftovers of interrupted runs
    if _STAGE_RE.match(name) and name not in keep:
      os.remove(os.path.join(out_dir, name))
  if resuming:
    logging.warning("%s: resuming an interrupted run of this job", out_dir)
  try:
    splits = {split: _stage_split(plan.get(split, []), split, counts, len(class_names),
                                  out_dir, sig, sample_rate, clip_len, progress)
              for split in SPLITS}
  except DataError:  # a recording refused only once read (NaN, past float16):
    for split in SPLITS:  # this job's staged splits cannot be finished; the outputs stay
      if os.path.isfile(_staged(out_dir, split, sig)):
        os.remove(_staged(out_dir, split, sig))
    raise
  # Every split is staged: put them in place.
  write_class_names(out_dir, class_names)
  empty = [s for s in SPLITS if splits[s]["clips"] == 0]
  removed = []
  for split in SPLITS:
    final = split_path(out_dir, split)
    if split in empty:
      if os.path.isfile(final):  # stale output of an earlier run
        os.remove(final)
        removed.append(split)
      continue
    os.replace(_staged(out_dir, split, sig), final)
  return {"out": out_dir, "classes": list(class_names), "sample_rate": sample_rate,
          "clip_seconds": clip_len / sample_rate, "clip_len": clip_len,
          "splits": splits, "empty": empty, "removed": removed,
          "duration_s": sum(v["seconds"] for v in splits.values()),
          "recorded_s": sum(seconds.values())}


def _stage_split(recs: list[Recording], split: str, counts: dict, n_classes: int,
                 out_dir: str, sig: str, sample_rate: int, clip_len: int,
                 progress: bool) -> dict:
  """Writes one split to its staged file (unless an interrupted run of the
  same job already did); returns its entry of the summary."""
  n = sum(counts[r.path] for r in recs)
  per_class = np.zeros(n_classes, np.int64)
  for r in recs:
    per_class[r.sid] += counts[r.path]
  info = {"clips": int(n), "recordings": len(recs), "per_class": per_class.tolist(),
          "seconds": n * clip_len / sample_rate}
  staged = _staged(out_dir, split, sig)
  info["constant"] = 0  # clips of one value throughout (digital silence)
  if n == 0:
    return info
  if os.path.isfile(staged):  # an interrupted run of this job wrote it
    wav = load_split(staged).wav  # memory-mapped: counted a block at a time
    info["constant"] = sum(_constant_clips(wav[i:i + 256]) for i in range(0, n, 256))
    return info
  sid = np.concatenate([np.full(counts[r.path], r.sid, SID_DTYPE) for r in recs])

  def blocks() -> Iterator[np.ndarray]:
    for r in progress_bar(recs, desc=split, unit="file", disable=not progress):
      clips = load_clips(r.path, sample_rate, clip_len, counts[r.path])
      info["constant"] += _constant_clips(clips)
      yield clips

  write_npz(staged, clip_len, n, blocks(), sid, sample_rate)
  return info


def _constant_clips(clips: np.ndarray) -> int:
  """How many rows of ``clips`` [k, W] hold one value throughout."""
  return int(np.sum(clips.max(axis=1) == clips.min(axis=1)))


# ---------------------------------------------------------------------------
# Class-folder trees


# Files a file manager leaves in folders, hidden on the system that wrote
# them (Windows Explorer's thumbnails and settings, macOS' custom icon),
# not recordings: skipped like hidden files. Compared in lower case.
SYSTEM_FILES = ("thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r")


def class_files(folder: str) -> list[str]:
  """The recordings of one class folder: every file under it, recursively,
  in sorted order, skipping hidden files and folders (names starting with
  '.') and file managers' own files (``SYSTEM_FILES``: Thumbs.db...)."""
  files = []
  for root, dirs, fnames in os.walk(folder):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    files += [os.path.join(root, f) for f in sorted(fnames)
              if not f.startswith(".") and f.lower() not in SYSTEM_FILES]
  return files


def folder_plan(src: str, valid: float = 0.1, test: float = 0.1,
                seed: int = 0) -> tuple[list[str], dict[str, list[Recording]]]:
  """Classes (sorted sub-folder names) and a seeded split by recording.

  Every file under a class folder (recursively) is a recording; hidden files
  (names starting with '.') are skipped, anything else must be audio.
  """
  if not os.path.isdir(src):
    raise DataError(f"src {src}: {not_a_folder(src)} (expected one sub-folder per class)")
  for name, v in (("valid", valid), ("test", test)):
    if not 0 <= v < 1:
      raise DataError(f"{name}={v}: expected a fraction in [0, 1)")
  if valid + test >= 1:
    raise DataError(f"valid={valid} + test={test} >= 1 leaves nothing to train on")
  entries = sorted(e for e in os.listdir(src) if not e.startswith("."))
  classes = [e for e in entries if os.path.isdir(os.path.join(src, e))]
  for e in entries:
    if e not in classes:
      logging.warning("ignoring %s: not a folder (audio goes into one sub-folder "
                      "per class)", os.path.join(src, e))
  if not classes:
    raise DataError(f"src {src}: holds no class sub-folders (expected "
                    "<src>/<class>/<recording>)")
  recs = []
  for sid, name in enumerate(classes):
    folder = os.path.join(src, name)
    files = class_files(folder)
    if not files:
      raise DataError(f"{folder}: empty class folder (expected audio files of "
                      f"class {name!r})")
    recs += [Recording(os.path.abspath(f), sid, os.path.abspath(f)) for f in files]
  plan = assign_splits(recs, {"valid": valid, "test": test}, "train", seed)
  return classes, plan


def check_out_outside(src: str, out: str) -> None:
  """Refuses an ``out`` that is ``src`` or a folder the next packing of
  ``src`` would scan (inside it, no part of the way hidden): its npz files
  and classes.json would be taken for recordings, or turn the class folders
  into npz splits. A hidden folder inside (``.packed``, train.py's) is fine."""
  rel = os.path.relpath(os.path.realpath(out), os.path.realpath(src))
  outside = rel == os.pardir or rel.startswith(os.pardir + os.sep)
  if not outside and (rel == os.curdir or not any(p.startswith(".") for p in rel.split(os.sep))):
    raise DataError(f"out {out}: inside src {src}, whose next packing would read what is "
                    "written there as recordings; give a folder outside it (or a hidden "
                    "one, e.g. src/.packed)")


def pack_folder(src: str, out: str, clip_seconds: float = DEFAULT_CLIP_SECONDS,
                sample_rate: int = DEFAULT_SAMPLE_RATE, valid: float = 0.1,
                test: float = 0.1, seed: int = 0, overwrite: bool = False,
                progress: bool = True) -> dict:
  check_out_outside(src, out)
  clip_len = clip_length(clip_seconds, sample_rate)
  classes, plan = folder_plan(src, valid, test, seed)
  return pack(plan, classes, out, sample_rate, clip_len, overwrite, progress)


# ---------------------------------------------------------------------------
# TUT Acoustic Scenes 2016 (DCASE 2016 task 1)


def _read_list(path: str, what: str) -> list[tuple[int, list[str]]]:
  """(line number, tab-separated fields) of the non-empty lines of a list file."""
  if not os.path.isfile(path):
    raise DataError(f"{path}: no such file (expected the {what})")
  rows = []
  with open(path, encoding="utf-8") as f:
    for i, line in enumerate(f, 1):
      line = line.strip("\r\n")
      if line.strip():
        rows.append((i, [c.strip() for c in line.split("\t")]))
  return rows


def read_dcase_meta(src: str) -> dict[str, tuple[int, str]]:
  """``meta.txt``: audio path (as listed) -> (class index, location)."""
  path = os.path.join(src, "meta.txt")
  meta = {}
  for i, cols in _read_list(path, "TUT meta.txt: audio/<file>.wav<TAB><label>"):
    if len(cols) < 2 or not cols[1]:
      raise DataError(f"{path}:{i}: {cols[0]!r} has no label; expected "
                      "'audio/<file>.wav<TAB><scene label>'")
    if cols[1] not in DCASE2016_CLASSES:
      raise DataError(f"{path}:{i}: unknown scene label {cols[1]!r} for {cols[0]}; "
                      f"expected one of {', '.join(DCASE2016_CLASSES)}")
    if cols[0] in meta:
      raise DataError(f"{path}:{i}: {cols[0]} listed twice")
    location = cols[2] if len(cols) > 2 and cols[2] else \
        os.path.basename(cols[0]).split("_")[0]
    meta[cols[0]] = (DCASE2016_CLASSES.index(cols[1]), location)
  if not meta:
    raise DataError(f"{path}: lists no recordings")
  return meta


def _fold_list(src: str, fold: int, part: str,
               meta: dict[str, tuple[int, str]]) -> list[Recording]:
  path = os.path.join(src, "evaluation_setup", f"fold{fold}_{part}.txt")
  recs = []
  for i, cols in _read_list(path, f"fold {fold} {part} list of the TUT release"):
    name = cols[0]
    if name not in meta:
      raise DataError(f"{path}:{i}: {name} is not listed in "
                      f"{os.path.join(src, 'meta.txt')}")
    sid, loc = meta[name]
    if len(cols) > 1 and cols[1] and cols[1] != DCASE2016_CLASSES[sid]:
      raise DataError(f"{path}:{i}: {name} labelled {cols[1]!r} but meta.txt says "
                      f"{DCASE2016_CLASSES[sid]!r}")
    recs.append(Recording(os.path.abspath(os.path.join(src, name)), sid, loc))
  if not recs:
    raise DataError(f"{path}: lists no recordings")
  return recs


def dcase2016_plan(src: str, eval_src: str | None = None, fold: int = 1,
                   seed: int = 0) -> dict[str, list[Recording]]:
  """Split mapping of the TUT 2016 release.

  * train: ``fold{N}_train.txt``;
  * with ``eval_src`` (the TUT 2016 evaluation release, labelled meta.txt):
    valid = ``fold{N}_evaluate.txt``, test = every recording of ``eval_src``;
  * without it: the recordings of ``fold{N}_evaluate.txt`` are split by
    location (seeded, per class, half of each class's locations to each) into
    valid and test. (``fold{N}_test.txt`` lists the same recordings as the
    evaluate list, without labels, so it cannot be a separate test set.)
  """
  for name, d in (("src", src), ("eval_src", eval_src)):
    if d is not None and not os.path.isdir(d):
      raise DataError(f"{name} {d}: {not_a_folder(d)} (expected a TUT Acoustic Scenes "
                      "2016 release with meta.txt)")
  if fold not in (1, 2, 3, 4):
    raise DataError(f"fold={fold}: expected 1, 2, 3 or 4")
  meta = read_dcase_meta(src)
  train = _fold_list(src, fold, "train", meta)
  evaluate = _fold_list(src, fold, "evaluate", meta)
  if eval_src is not None:
    if os.path.realpath(eval_src) == os.path.realpath(src):
      raise DataError(f"eval_src {eval_src} is src; expected the separate "
                      "evaluation release")
    emeta = read_dcase_meta(eval_src)
    test = [Recording(os.path.abspath(os.path.join(eval_src, k)), sid, "eval:" + k)
            for k, (sid, _) in emeta.items()]
    plan = {"train": train, "valid": evaluate, "test": test}
  else:
    parts = assign_splits(evaluate, {"test": 0.5}, "valid", seed)
    plan = {"train": train, "valid": parts["valid"], "test": parts["test"]}
  check_disjoint(plan)
  for g, a, b in shared_groups(plan):
    logging.warning("location %r has recordings in splits %r and %r", g, a, b)
  return plan


def pack_dcase2016(src: str, out: str, eval_src: str | None = None, fold: int = 1,
                   clip_seconds: float = DEFAULT_CLIP_SECONDS,
                   sample_rate: int = DEFAULT_SAMPLE_RATE, seed: int = 0,
                   overwrite: bool = False, progress: bool = True) -> dict:
  clip_len = clip_length(clip_seconds, sample_rate)
  plan = dcase2016_plan(src, eval_src, fold, seed)
  return pack(plan, DCASE2016_CLASSES, out, sample_rate, clip_len, overwrite, progress)
