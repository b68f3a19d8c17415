"""From a checkpoint to WAV files: what sample.py and the trainer share.

Output layout (``<workdir>/samples/<step>/`` unless ``--out``)::

  <class>_<NNN>.wav   16 kHz float32 mono, one clip each
  manifest.json       one record per clip: file, class, class_index, mix,
                      seed, temperature, step, seconds (the whole clip),
                      prime_seconds (its first seconds: the --prime recording)

Nothing existing is replaced without ``overwrite`` (with it, the clips an
earlier manifest listed and the new one does not are removed); whole files
are written to a temporary name and renamed, so a reader never sees half a
file, except the WAVs of ``stream_samples``, which grow in place a block at a
time (they and the manifest appear once the first block is made; the
manifest is rewritten after every block to what the files hold, so even a
SIGKILL leaves it true to within the block being written). A run holds a lock on
the folder from its first check to its last write: a second run into the
same folder is refused at once (it would find the folder free, then remove
the first run's clips as an earlier manifest's). A WAV over 4 GiB
(2**30 float32 samples, 18.6 hours at 16 kHz) is written as RF64, which
plain WAV's 32-bit sizes cannot describe.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import os
import re
import unicodedata
from typing import Callable, Sequence

import jax
import numpy as np
import soundfile as sf
from absl import logging
from ml_collections import ConfigDict

from samplernn_jax import checkpoint as ckpt_lib
from samplernn_jax import config as config_lib
from samplernn_jax import levels
from samplernn_jax import quantize as quant
from samplernn_jax import sampling
from samplernn_jax import signals
from samplernn_jax import steps
from samplernn_jax import workdir as workdir_lib
from samplernn_jax.audio import read_mono
from samplernn_jax.files import (allow_open_files, atomic_write_all, json_writer, not_a_folder,
                                 write_json)
from samplernn_jax.model import SampleRNN
from samplernn_jax.progress import bar as progress_bar

MANIFEST = "manifest.json"
MODEL_JSON = "model.json"
# Sampling defaults, chosen by measurement (docs/quality.md); the paper's
# behaviour is level "minmax" at temperature 1.0.
DEFAULT_LEVEL = "class"
STREAM_LEVELS = ("none", "prime")  # the levels known before a clip ends
DEFAULT_TEMPERATURE = 0.95
# Guidance is 1 (off, the paper's draw) unless asked for, for every model:
# on the two models trained with config.cond_dropout (docs/quality.md), 3
# helped the wide config (0.31 -> 0.61) and hurt the shipped one
# (0.79 -> 0.60).


@dataclasses.dataclass(repr=False)
class Loaded:
  """A checkpoint ready to sample (``load_checkpoint``). ``model.n_classes``
  is the class count (``config.n_classes`` may be 0: counted from the data);
  ``class_names[i]`` names class i; ``class_rms`` is what level ``class``
  plays each class at (``levels.clip_targets``); ``checkpoint`` is e.g.
  ``best/4500`` of ``workdir``."""
  model: object
  params: object
  config: ConfigDict
  class_names: list[str]
  step: int
  class_rms: list[float | None] | None = None  # median RMS of each class's training clips
  workdir: str | None = None
  checkpoint: str | None = None  # e.g. "best/4500"

  def __repr__(self) -> str:  # not the parameters: a notebook would print them all
    n = sum(int(np.size(x)) for x in jax.tree.leaves(self.params))
    return (f"Loaded({type(self.model).__name__}, {n:,} parameters, step {self.step}, "
            f"classes {self.class_names}, checkpoint {self.checkpoint!r} of {self.workdir!r})")


def load_checkpoint(workdir: str, ckpt: str = "best",
                    model_cls: type[SampleRNN] = SampleRNN) -> Loaded:
  """Model, parameters, config and class names of a run's checkpoint.

  ``ckpt``: 'best' (the best valid cost's parameters; the latest training
  state's when the run has no best/ yet), 'latest' (the newest training
  state; the best's where only that is kept, as in demo/), or a step number.
  ``model_cls``: the class that trained it (SampleRNN or a research variant's
  subclass); parameters that do not fit it are refused (ParamFormatError).
  FileNotFoundError for a workdir or step that is not there, ValueError for
  a ``ckpt`` that is none of these, CheckpointReadError for a step that
  cannot be read (``checkpoint.restore_chosen``: one removed while read by a
  train.py running in the workdir is looked up again)."""
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"workdir={workdir}: {not_a_folder(workdir)}")
  sub, step, params, meta = ckpt_lib.restore_chosen(workdir, ckpt)
  config = config_lib.from_saved(meta.get("config"), f"{workdir}/{sub}/{step}")
  ckpt_lib.check_model_class(meta, model_cls, f"{workdir}/{sub}/{step}")
  n = ckpt_lib.n_classes_of(meta, config, f"{workdir}/{sub}/{step}")
  model = config_lib.build_model(config, n, model_cls)
  ckpt_lib.check_params(params, steps.abstract_params(model, config.seq_len),
                        f"{workdir}/{sub}/{step}")
  names = list(meta.get("class_names") or [str(i) for i in range(n)])
  return Loaded(model, params, config, names, step, meta.get("class_rms"),
                os.path.abspath(workdir), f"{sub}/{step}")


def find_class(name: str, names: Sequence[str]) -> int | None:
  """The index of the class ``name`` names in ``names`` (None if none): as
  written first, so two names that differ only in Unicode form stay apart;
  else in one form (NFC), so a folder name from macOS' Finder (``é`` as e
  and a combining accent) is the name typed in a terminal or read from a
  manifest."""
  if name in names:
    return list(names).index(name)
  nfc = [unicodedata.normalize("NFC", n) for n in names]
  key = unicodedata.normalize("NFC", name)
  return nfc.index(key) if key in nfc else None


def class_index(token: str, names: Sequence[str], setting: str) -> int:
  """The class ``token`` names (a name, as ``find_class`` compares it, or an
  index)."""
  token = token.strip()
  found = find_class(token, names)
  if found is not None:
    return found
  if token.isascii() and token.isdecimal() and int(token) < len(names):  # not '³'
    return int(token)
  raise ValueError(f"{setting}: unknown class {token!r}; the model knows "
                   f"{', '.join(names)} (or indices 0 .. {len(names) - 1})")


def parse_classes(spec: str | None, names: Sequence[str]) -> list[int]:
  """``bus,park`` or ``0,14``; None or ``all`` for every class."""
  if not spec or spec == "all":
    return list(range(len(names)))
  picked = [class_index(t, names, "classes") for t in spec.split(",") if t.strip()]
  if not picked:
    raise ValueError(f"classes={spec!r}: names no class; expected names or indices "
                     "separated by commas, or all")
  twice = [names[c] for i, c in enumerate(picked) if c in picked[:i]]
  if twice:
    raise ValueError(f"classes={spec!r}: names {twice[0]!r} twice; more clips of a class "
                     "come from per_class (--per_class)")
  return picked


def parse_mix(spec: str, names: Sequence[str]) -> np.ndarray:
  """``bus:0.5,park:0.5`` -> a convex class vector [C] (weights renormalised:
  summed in float64, finite and not negative; a class named twice gets the
  sum of its weights)."""
  vec = np.zeros(len(names), np.float64)
  for part in spec.split(","):
    name, _, w = part.rpartition(":")
    if not name:
      raise ValueError(f"mix: {part!r} is not CLASS:WEIGHT")
    try:
      weight = float(w)
    except ValueError:
      raise ValueError(f"mix: weight {w!r} of {name!r} is not a number") from None
    if not math.isfinite(weight):
      raise ValueError(f"mix: weight {w!r} of {name!r} is not a finite number")
    if weight < 0:
      raise ValueError(f"mix: weight of {name!r} is negative")
    vec[class_index(name, names, "mix")] += weight
  with np.errstate(over="ignore"):  # an infinite total is refused below
    total = vec.sum()
  if not total > 0:
    raise ValueError("mix: the weights sum to 0")
  if not math.isfinite(total):
    raise ValueError(f"mix: the weights sum to {total}; expected a finite total")
  return (vec / total).astype(np.float32)


def safe_name(name: str) -> str:
  """A class name as it may appear in a file name: letters and digits of
  any script kept (``café terrace`` -> ``café_terrace``, ``雨`` stays), each
  run of anything else but ``.`` and ``-`` (spaces, slashes) one ``_``;
  composed first (NFC), so that an accent typed as a separate mark stays."""
  return re.sub(r"[^\w.-]+", "_", unicodedata.normalize("NFC", name))


def check_free(out_dir: str, files: Sequence[str], overwrite: bool) -> None:
  """Refuses (before anything is written) when an output exists already."""
  outputs = list(files) + [MANIFEST, MODEL_JSON]
  clash = [f for f in outputs if os.path.exists(os.path.join(out_dir, f))]
  if clash and not overwrite:
    raise FileExistsError(f"{os.path.join(out_dir, clash[0])} exists ({len(clash)} of the "
                          f"{len(outputs)} files this run writes do); pass --overwrite "
                          "(overwrite=True in Python) to replace them")


# Samples a float32 WAV can hold: its data chunk's size is a 32-bit count of
# bytes. Longer clips are written as RF64 (the same file with 64-bit sizes).
WAV_MAX_SAMPLES = (2 ** 32 - 1) // 4 - 64


def wav_format(n_samples: int) -> str:
  """``WAV``, or ``RF64`` for a clip plain WAV cannot describe."""
  return "WAV" if n_samples <= WAV_MAX_SAMPLES else "RF64"


def wav_writer(audio: np.ndarray, rate: int) -> Callable[[str], None]:
  """Writes a 32-bit float WAV (the generated audio as it is, no clipping) to
  the path it is given (``atomic_write``'s temporary file)."""
  return lambda path: sf.write(path, audio, rate, subtype="FLOAT",
                               format=wav_format(audio.shape[-1]))


def _holding_out_lock(fn):
  """Runs ``fn(loaded, out_dir, ...)`` holding ``out_dir`` (``held_folder``:
  made if need be, removed again when the run fails having written nothing)."""
  @functools.wraps(fn)
  def locked(loaded, out_dir, *args, **kwargs):
    with workdir_lib.held_folder(out_dir, "out"):
      return fn(loaded, out_dir, *args, **kwargs)
  return locked


def check_seconds(seconds: float, rate: int | None = None) -> None:
  """A finite positive length, of at least one sample at ``rate`` when given."""
  if not (seconds > 0 and math.isfinite(seconds)):
    raise ValueError(f"seconds={seconds}: expected a positive length (a finite number of seconds)")
  if rate is not None and round(seconds * rate) < 1:
    raise ValueError(f"seconds={seconds}: less than one sample at {rate} Hz; expected at "
                     f"least {1 / rate:g}")


def write_manifest(out_dir: str, records: list[dict]) -> None:
  """Writes the manifest; the WAVs an earlier manifest there listed and this
  one does not are removed (``--overwrite`` with another request: left, they
  would sit beside the new clips as if made by the new settings, and
  evaluate.py without the manifest would score them)."""
  path = os.path.join(out_dir, MANIFEST)
  old = _listed_wavs(path)
  write_json(path, records)
  remove_unlisted(out_dir, old, records)


def remove_unlisted(out_dir: str, old: Sequence[str], records: list[dict]) -> None:
  """Removes the WAVs ``old`` (an earlier manifest's) that ``records`` (the
  manifest now written) do not list: not the same name, and, where a new
  clip's name differs only in case, not the same file (on a case-blind
  filesystem, macOS' or Windows', ``rain_000.wav`` is ``Rain_000.wav``)."""
  new = {r["file"] for r in records}
  by_case = {f.casefold(): f for f in new}

  def listed(name: str) -> bool:
    twin = by_case.get(name.casefold())
    if name in new or twin is None:
      return name in new
    try:
      return os.path.samefile(os.path.join(out_dir, name), os.path.join(out_dir, twin))
    except OSError:  # one of them is gone: nothing of the old to remove
      return True
  for name in sorted(n for n in old if not listed(n)):
    try:
      os.remove(os.path.join(out_dir, name))
    except FileNotFoundError:
      pass
    except OSError as e:  # the new clips are written: say so, do not fail
      logging.warning("%s: an earlier clip not removed (%s)", os.path.join(out_dir, name),
                      e.strerror)


def _listed_wavs(manifest_path: str) -> list[str]:
  """The WAV file names (in the folder itself) an existing manifest lists."""
  try:
    with open(manifest_path, encoding="utf-8") as f:
      entries = json.load(f)
  except (OSError, ValueError):
    return []
  if not isinstance(entries, list):
    return []
  names = [e.get("file") for e in entries if isinstance(e, dict)]
  return [n for n in names if isinstance(n, str) and n.lower().endswith(".wav")
          and os.path.basename(n) == n]


@dataclasses.dataclass
class Request:
  """What to generate: one row per clip."""
  class_vecs: np.ndarray        # float32 [B, C]
  labels: list[str]             # file-name stem of each clip
  classes: list[int | None]     # class index, None for a mix
  mixes: list[str | None]       # the --mix text of mixed clips


def _class_token(c, names: Sequence[str]) -> str:
  """A class of a list as ``parse_classes`` reads it: an int is an index
  (taken as a name first in a string, where a class may be called '3')."""
  if config_lib.is_integer(c):
    if not 0 <= c < len(names):
      raise ValueError(f"classes: index {c}: expected 0 .. {len(names) - 1} (the model "
                       f"knows {', '.join(names)})")
    return names[c]
  return str(c)


def make_request(names: Sequence[str], classes: str | Sequence[str | int] | None,
                 per_class: int, mix: str | dict[str, float] | None) -> Request:
  """The clips to generate from a model of classes ``names``: ``per_class``
  of each class in ``classes`` (``"bus,park"`` as sample.py's --classes, or
  a list of names and indices such as ``["bus", 3]``, an int always an
  index; None or ``"all"``: every class), or, given ``mix``
  (``"bus:0.5,park:0.5"`` as --mix, or ``{"bus": 0.5, "park": 0.5}``),
  ``per_class`` clips of that mix."""
  if classes is not None and not isinstance(classes, str):
    classes = list(classes)
    if not classes:  # a list names its classes: an empty one is not "every class"
      raise ValueError("classes=[]: names no class; expected names or indices, or None "
                       "for every class")
    classes = ",".join(_class_token(c, names) for c in classes)
  if isinstance(mix, dict):
    mix = ",".join(f"{name}:{weight}" for name, weight in mix.items())
  if not (config_lib.is_integer(per_class) and per_class >= 1):
    raise ValueError(f"per_class={per_class!r}: expected an integer of at least 1")
  if mix:
    vec = parse_mix(mix, names)
    # renormalised; 9 digits give the float32 weights back exactly
    used = ",".join(f"{names[c]}:{vec[c]:.9g}" for c in np.flatnonzero(vec))
    return Request(np.repeat(vec[None], per_class, 0), ["mix"] * per_class,
                   [None] * per_class, [used] * per_class)
  idx = [c for c in parse_classes(classes, names) for _ in range(per_class)]
  vecs = np.eye(len(names), dtype=np.float32)[idx]
  return Request(vecs, [safe_name(names[c]) for c in idx], idx, [None] * len(idx))


def file_names(req: Request) -> list[str]:
  """``<label>_<NNN>.wav`` of each clip, numbered from 000 per label; labels
  that differ only in case share one count (``Rain_000``, ``rain_001``: on
  a case-blind filesystem, macOS' or Windows', the same name is one file)."""
  counts: dict[str, int] = {}
  out = []
  for lab in req.labels:
    i = counts.get(lab.casefold(), 0)
    counts[lab.casefold()] = i + 1
    out.append(f"{lab}_{i:03d}.wav")
  return out


def manifest_records(req: Request, files, names, seed, temperature, step, seconds,
                     prime_seconds: float = 0.0):
  """One record a clip; ``seconds`` is the whole clip's length, of which the
  first ``prime_seconds`` are the --prime recording (evaluate.py skips them)."""
  return [{"file": f, "class": None if c is None else names[c], "class_index": c,
           "mix": m, "seed": seed, "temperature": temperature, "step": step,
           "seconds": seconds, "prime_seconds": prime_seconds}
          for f, c, m in zip(files, req.classes, req.mixes)]


def _prepare_out(loaded: Loaded, out_dir: str, req: Request, seconds: float,
                 prime: np.ndarray | None, overwrite: bool, temperature: float,
                 guidance: float, seed: int):
  """Checks the draw's settings, and the request against the output folder,
  before any generation: returns (file names, samples per clip with the
  prime, forced prefix [B, P])."""
  rate = loaded.config.sample_rate
  check_guidance(loaded, guidance)
  check_temperature(temperature)
  config_lib.check_seed(seed)
  check_seconds(seconds, rate)
  files = file_names(req)
  check_free(out_dir, files, overwrite)
  n = int(round(seconds * rate)) + (0 if prime is None else prime.shape[-1])
  if n >= sampling.MAX_RUN_SAMPLES:
    raise ValueError(f"seconds={seconds:g}"
                     + ("" if prime is None else f" after a prime of {prime.shape[-1]} samples")
                     + f" makes {n} samples a clip; expected fewer than 2**31 "
                     f"({(sampling.MAX_RUN_SAMPLES - 1) / rate / 3600:.1f} hours at {rate} Hz)")
  forced = None if prime is None else np.repeat(prime[None], len(files), 0)
  return files, n, forced


def clip_levels(loaded: Loaded, req: Request, level: str) -> np.ndarray | None:
  """Target RMS [B] of each clip for ``level='class'`` (None otherwise)."""
  if level != "class":
    return None
  return levels.clip_targets(req.class_vecs, loaded.class_rms)


def check_level(loaded: Loaded, req: Request, level: str,
                prime_span: tuple[float, float] | None) -> None:
  """Refuses, before any generation, a level the checkpoint (class levels)
  or the prime (its span) cannot give."""
  clip_levels(loaded, req, level)
  if level == "prime":
    levels.prime_span(prime_span)


def model_record(loaded: Loaded, level: str, temperature: float, seed: int,
                 guidance: float = 1.0) -> dict:
  """What ``model.json`` says: which checkpoint and settings made the clips."""
  return {"workdir": loaded.workdir, "checkpoint": loaded.checkpoint,
          "step": loaded.step,
          "config": loaded.config.to_dict(), "class_names": loaded.class_names,
          "class_rms": loaded.class_rms, "level": level,
          "temperature": temperature, "guidance": guidance, "seed": seed}


def check_temperature(temperature: float) -> None:
  """ValueError unless the temperature is finite and not negative."""
  sampling.check_draw(temperature)


def check_guidance(loaded: Loaded, guidance: float) -> None:
  """Refuses a non-finite guidance, and guidance (!= 1) for a model never
  trained without its class: its unconditional predictions would be
  untrained (``sampling.generate`` itself cannot tell: it gets the model,
  not its config)."""
  sampling.check_draw(1.0, guidance)
  if guidance != 1.0 and not loaded.config.cond_dropout > 0:
    raise ValueError(
        f"guidance={guidance:g} needs a model trained with config.cond_dropout > 0 "
        f"(this checkpoint, {loaded.checkpoint}, has cond_dropout="
        f"{loaded.config.cond_dropout}); use guidance=1 or retrain with it")


def write_model_json(out_dir: str, record: dict) -> None:
  write_json(os.path.join(out_dir, MODEL_JSON), record)


def write_clips(loaded: Loaded, out_dir: str, req: Request, files: Sequence[str],
                q: np.ndarray, level: str, temperature: float, seed: int,
                guidance: float = 1.0, prime_samples: int = 0,
                prime_span: tuple[float, float] | None = None) -> list[str]:
  """Generated levels [B, N] (the first ``prime_samples`` the prime's) -> WAVs
  at ``level``, the manifest and model.json, written as one
  (``atomic_write_all``: a failed write, e.g. a full disk, leaves an earlier
  run's files in ``out_dir`` as they were, not new clips under the old
  manifest)."""
  c = loaded.config
  audio = sampling.to_audio(q, c.q_type, c.q_levels, level, clip_levels(loaded, req, level),
                            span=prime_span)
  paths = [os.path.join(out_dir, f) for f in files]
  records = manifest_records(req, files, loaded.class_names, seed, temperature, loaded.step,
                             q.shape[1] / c.sample_rate, prime_samples / c.sample_rate)
  manifest_path = os.path.join(out_dir, MANIFEST)
  old = _listed_wavs(manifest_path)
  atomic_write_all(
      [(p, wav_writer(a, c.sample_rate)) for p, a in zip(paths, audio)]
      + [(os.path.join(out_dir, MODEL_JSON),
          json_writer(model_record(loaded, level, temperature, seed, guidance))),
         (manifest_path, json_writer(records))])
  remove_unlisted(out_dir, old, records)
  return paths


@_holding_out_lock
def write_samples(loaded: Loaded, out_dir: str, req: Request, seconds: float,
                  temperature: float = DEFAULT_TEMPERATURE, seed: int = 0,
                  prime: np.ndarray | None = None, overwrite: bool = False,
                  level: str | None = None, progress: bool = True,
                  guidance: float = 1.0,
                  prime_span: tuple[float, float] | None = None,
                  stop_on_signal: bool = False) -> list[str]:
  """Generates the request and writes WAVs, the manifest and model.json;
  returns the paths. ``prime``: levels int [P] (``read_prime``, not audio)
  that every clip continues. ``prime_span``: the prime recording's min and max
  (``load_prime``), which ``level='prime'`` needs; ``level`` None is
  'prime' with a span, else ``DEFAULT_LEVEL``. ``stop_on_signal``
  (sample.py): Ctrl-C or SIGTERM stops the generation between blocks,
  raising ``signals.Stopped`` with nothing written, instead of a
  KeyboardInterrupt wherever it lands (inside XLA's dispatch, the
  interpreter's exit then crashed now and then; a second Ctrl-C a second
  later raises ``signals.QuitNow`` at once, or in sample.py ends the
  process); off for a caller with handlers of its own (the trainer)."""
  level = level or ("prime" if prime_span is not None else DEFAULT_LEVEL)
  files, n, forced = _prepare_out(loaded, out_dir, req, seconds, prime, overwrite,
                                  temperature, guidance, seed)
  check_level(loaded, req, level, prime_span)
  bar = None
  if progress:
    bar = progress_bar(total=n, unit="sample", unit_scale=True, desc=f"sampling {len(files)} clips")
  stop = signals.StopRequests(signals.SIGNALS if stop_on_signal else ())

  def block_done(samples: int) -> None:
    if bar:
      bar.update(samples)
    if stop.requested:
      raise signals.Stopped(stop.exit_code)  # between blocks: nothing in flight
  try:
    with stop:
      q, _ = sampling.generate(loaded.model, loaded.params, req.class_vecs, n,
                               jax.random.key(seed), temperature, forced,
                               progress=block_done, guidance=guidance)
  finally:
    if bar:
      bar.close()
  return write_clips(loaded, out_dir, req, files, q, level, temperature, seed, guidance,
                     0 if prime is None else prime.shape[-1], prime_span)


def sample_untrained(config, class_names: Sequence[str], out_dir: str, per_class: int,
                     seconds: float, seed: int = 0, overwrite: bool = False,
                     class_rms: Sequence[float | None] | None = None,
                     paper_draw: bool = False) -> list[str]:
  """Clips of a freshly initialised model: the paper's 'random model' baseline.

  With ``class_rms`` (from the real training split) the clips are drawn as
  sample.py draws a trained model's (level class, temperature 0.95: the
  clips they are compared with); without it, or with ``paper_draw``, as the
  paper drew every clip (level minmax, temperature 1.0).
  """
  model = config_lib.build_model(config, len(class_names))
  params = steps.init_params(model, jax.random.key(seed), config.seq_len)
  loaded = Loaded(model, params, config, list(class_names), 0,
                  None if class_rms is None else list(class_rms))
  req = make_request(class_names, None, per_class, None)
  paper = paper_draw or class_rms is None
  return write_samples(loaded, out_dir, req, seconds, seed=seed, overwrite=overwrite,
                       level=levels.PAPER_LEVEL if paper else "class",
                       temperature=1.0 if paper else DEFAULT_TEMPERATURE)


def load_prime(path: str, rate: int, q_type: str, q_levels: int
               ) -> tuple[np.ndarray, tuple[float, float]]:
  """A mono WAV at the model's rate -> (its quantised levels int32 [P], its
  min and max): quantisation scales a clip's range to the full range, the
  model continues that, and ``level='prime'`` scales the clip back."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"prime={path}: no such file")
  x = read_mono(path, rate, name=f"prime={path}")
  return quant.quantize(x, q_type, q_levels), (float(x.min()), float(x.max()))


def read_prime(path: str, rate: int, q_type: str, q_levels: int) -> np.ndarray:
  """A mono WAV at the model's rate -> its quantised levels int32 [P]."""
  return load_prime(path, rate, q_type, q_levels)[0]


def _stream_level(level: str | None, prime_span) -> str:
  """A stream's level: None is 'prime' with a prime's span, else 'none'; only
  the levels known before a clip ends (``STREAM_LEVELS``)."""
  level = level or ("prime" if prime_span is not None else "none")
  if level not in STREAM_LEVELS:
    raise ValueError(f"level={level!r}: a stream is written before its clips end; expected "
                     f"{' or '.join(STREAM_LEVELS)}")
  return level


@_holding_out_lock
def stream_samples(loaded: Loaded, out_dir: str, req: Request, seconds: float,
                   temperature: float = DEFAULT_TEMPERATURE, seed: int = 0,
                   prime: np.ndarray | None = None, overwrite: bool = False,
                   block_seconds: float = 1.0, progress: bool = True,
                   guidance: float = 1.0, level: str | None = None,
                   prime_span: tuple[float, float] | None = None) -> list[str]:
  """Like ``write_samples``, but appends each block (about a second) to the
  WAV files as soon as it is generated; memory stays flat however long the
  clips. Audio at the levels known before a clip ends: 'none' (the
  dequantised levels) or, continuing a prime, 'prime' (``prime_span``;
  ``level`` None is 'prime' with a span, else 'none'). Ctrl-C or SIGTERM
  stops it between blocks, leaving valid files with every block finished so
  far, and raises ``signals.Stopped``; a second Ctrl-C a second later
  raises ``signals.QuitNow`` at once (the files keep the blocks the
  manifest lists), or in sample.py ends the process."""
  level = _stream_level(level, prime_span)
  c = loaded.config
  rate = c.sample_rate
  files, n, forced = _prepare_out(loaded, out_dir, req, seconds, prime, overwrite,
                                  temperature, guidance, seed)
  check_level(loaded, req, level, prime_span)
  allow_open_files(len(files), f"a stream of {len(files)} clips (sample.py --stream: "
                   "--classes, --per_class)")
  blocks = sampling.generate_blocks(  # checks the run before any file is written
      loaded.model, loaded.params, req.class_vecs, n, jax.random.key(seed), temperature,
      forced, block_samples=int(block_seconds * rate), guidance=guidance)
  primed = 0.0 if prime is None else prime.shape[-1] / rate

  def record(done: int) -> None:  # the manifest says what the files hold, always
    write_manifest(out_dir, manifest_records(req, files, loaded.class_names, seed,
                                             temperature, loaded.step, done / rate,
                                             min(primed, done / rate)))
  stop = signals.StopRequests()  # Ctrl-C / SIGTERM: honoured between blocks
  paths = [os.path.join(out_dir, f) for f in files]
  with stop:  # a stop during the first block still writes it (a finished block)
    first = next(blocks)  # compiled and run (or out of memory) before any file is written
    record(0)
    write_model_json(out_dir, model_record(loaded, level, temperature, seed, guidance))
    audio = functools.partial(sampling.to_audio, q_type=c.q_type, q_levels=c.q_levels,
                              level=level, span=prime_span)
    _append_blocks(paths, itertools.chain([first], blocks), audio, record, stop, rate, n,
                   progress)
  if stop.requested:
    raise signals.Stopped(stop.exit_code)  # sample.py: "interrupted; ...", exits with it
  return paths


def _append_blocks(paths: list[str], blocks, audio, record, stop: signals.StopRequests,
                   rate: int, n: int, progress: bool) -> None:
  """Opens the streamed WAVs of ``n`` samples each and appends every block's
  ``audio(levels)`` to them, ``record(samples done)`` after each; ends after
  the block during which a stop was requested. Left by an error (a
  ``signals.QuitNow``), the files are cut back to the whole blocks the
  manifest lists."""
  done = listed = 0  # samples written; of them, those the manifest lists
  outs = [sf.SoundFile(p, "w", samplerate=rate, channels=1, subtype="FLOAT",
                       format=wav_format(n)) for p in paths]
  bar = None
  if progress:
    bar = progress_bar(total=n, unit="sample", unit_scale=True,
                       desc=f"streaming {len(paths)} clips")
  try:
    for q, _ in blocks:
      for o, a in zip(outs, audio(q)):
        o.write(a)
        o.flush()
      done += q.shape[1]
      record(done)  # a second Ctrl-C in sample.py (os._exit) runs no finally
      listed = done
      if bar:
        bar.update(q.shape[1])
      if stop.requested:
        break
  finally:  # closing writes the final header, also on Ctrl-C
    for o in outs:
      if o.frames > listed:  # left half-way through a block, or its manifest
        o.truncate(listed)
      o.close()
    if bar:
      bar.close()
