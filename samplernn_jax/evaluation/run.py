"""The paper's evaluation of a directory of generated clips (``evaluate.py``).

Steps (Kong et al. 2019, Sec. 4, plus a Frechet distance):

1. ``f_real``: a ``classifier.SceneCNN`` trained on the real training split
   (``audio_train.npz``; every 8-second clip gives its "cover" windows, see
   ``features``), selected on ``audio_valid.npz`` when present, checkpointed
   in ``<workdir>/f_real`` and reused by later runs with the same data and
   settings (pass one ``--workdir`` to share it between sample directories).
2. Its accuracy on the real test split (``audio_test.npz``) and on the
   generated clips; each clip is judged on its first window.
3. ``f_gen``: the same classifier trained on the generated clips only (no
   model selection: the last epoch), checkpointed in ``<out_dir>/f_gen``;
   its accuracy on the real test split.
4. The Frechet distance between f_real's embeddings of the real test clips
   and of the generated clips, overall and per class.
5. ``eval.json``, confusion-matrix PNGs and ``report.html`` (see ``report``)
   in the output directory, by default ``<samples>/eval/``. Nothing existing
   is replaced without ``overwrite``.

``baseline="random"`` evaluates the clips of an untrained model (the paper's
6.7 % row): the WAVs in ``samples_dir`` if it holds any, else clips of a
freshly initialised ``baseline_config`` model generated into it first
(``_random_baseline_samples``).

Real clips are taken as 16 kHz (the paper's npz files hold no rate).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
from typing import Callable

import numpy as np
from absl import logging

from samplernn_jax import config as config_lib
from samplernn_jax import datasets, files, levels, sample_files
from samplernn_jax import splits as splits_lib
from samplernn_jax.evaluation import classifier as clf_lib
from samplernn_jax.evaluation import features as feat_lib
from samplernn_jax.evaluation import frechet as frechet_lib
from samplernn_jax.evaluation import report as report_lib
from samplernn_jax.evaluation import samples as samples_lib
from samplernn_jax.errors import DataError, EvalError

EVAL_JSON = "eval.json"
REPORT_HTML = "report.html"
ACCURACIES = ("f_real_on_real_test", "f_real_on_generated", "f_gen_on_real_test")
# What the paper reports, for comparison in the report (docs/paper.md).
PAPER = {"f_real_on_real_test": 0.831, "f_real_on_generated": 0.655,
         "f_gen_on_real_test": 0.513, "f_real_on_random_model": 0.067}


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """Everything that decides the numbers (saved with the checkpoints)."""
  window_seconds: float = 5.0
  features: feat_lib.FeatureConfig = feat_lib.FeatureConfig()
  classifier: clf_lib.ClassifierConfig = clf_lib.ClassifierConfig()
  # Each classifier is trained once per seed; every figure is reported as
  # the mean over seeds with its min and max.
  seeds: tuple[int, ...] = (0, 1, 2)

  def with_seed(self, seed: int) -> clf_lib.ClassifierConfig:
    return dataclasses.replace(self.classifier, seed=seed)

  @property
  def window(self) -> int:
    return int(round(self.window_seconds * self.features.sample_rate))

  @property
  def n_frames(self) -> int:
    return self.features.num_frames(self.window)

  def validate(self) -> None:
    if not math.isfinite(self.window_seconds):
      raise EvalError(f"window_seconds {self.window_seconds}: expected a finite length",
                      "window_seconds")
    if not self.window >= self.features.n_fft:
      raise EvalError(f"window_seconds {self.window_seconds}: a window must "
                      f"hold at least n_fft={self.features.n_fft} samples "
                      f"({self.features.n_fft / self.features.sample_rate} s)", "window_seconds")
    c = self.classifier
    if not self.seeds or len(set(self.seeds)) != len(self.seeds):
      raise EvalError(f"seeds {list(self.seeds)}: expected one or more distinct ints", "seeds")
    for name, v in (("classifier.epochs", c.epochs), ("classifier.batch_size", c.batch_size),
                    ("classifier.embed_dim", c.embed_dim)):
      if v < 1:
        raise EvalError(f"{name} {v}: must be >= 1", name)
    if not c.channels or min(c.channels) < 1:
      raise EvalError(f"classifier.channels {list(c.channels)}: expected positive ints",
                      "classifier.channels")
    if not c.learning_rate > 0:
      raise EvalError(f"classifier.learning_rate {c.learning_rate}: must be > 0",
                      "classifier.learning_rate")


def _jsonable(x):
  return json.loads(json.dumps(x))


def _split_fingerprint(split: splits_lib.Split) -> dict:
  """Identifies a split's content: size, labels and every sample (hashing
  only the first and last clips reused a stale f_real after a same-sized
  repack that changed the clips between)."""
  size = os.path.getsize(split.path) if os.path.isfile(split.path) else split.wav.nbytes
  return {"shape": list(split.wav.shape), "dtype": str(split.wav.dtype),
          "bytes": size, "sha1": split.content_sha1()}  # synthetic: made, no file


def _clips_fingerprint(clips) -> dict:
  h = hashlib.sha1()
  for c in clips:
    h.update(os.path.basename(c.path).encode())
    h.update(str(c.class_index).encode())
    h.update(c.wav.tobytes())
  return {"clips": len(clips), "sha1": h.hexdigest()}


def _train_or_restore(ckpt_dir: str, meta: dict, overwrite: bool, what: str,
                      train: Callable[[], clf_lib.Classifier], n_classes: int,
                      cfg: EvalConfig, log) -> clf_lib.Classifier:
  """Reuses the checkpoint in ``ckpt_dir`` when its meta matches, else trains.

  Holds ``<ckpt_dir>.lock`` meanwhile: evaluations of several sample folders
  run at once with one workdir train its f_real once (the others wait, then
  reuse it) instead of each training it and saving over the others."""
  os.makedirs(os.path.dirname(os.path.abspath(ckpt_dir)), exist_ok=True)
  with files.exclusive(ckpt_dir.rstrip("/") + ".lock", f"training {what}"):
    return _train_or_restore_locked(ckpt_dir, meta, overwrite, what, train, n_classes, cfg, log)


def _train_or_restore_locked(ckpt_dir: str, meta: dict, overwrite: bool, what: str,
                             train: Callable[[], clf_lib.Classifier], n_classes: int,
                             cfg: EvalConfig, log) -> clf_lib.Classifier:
  meta = _jsonable(meta)
  old = clf_lib.read_meta(ckpt_dir)
  if old is not None:
    old.pop("history", None)
    if old == meta:
      log(f"{what}: reusing the checkpoint in {ckpt_dir}")
      return clf_lib.restore(ckpt_dir, n_classes, cfg.classifier, cfg.n_frames,
                             cfg.features.n_mels)
    if not overwrite:
      diff = sorted(k for k in set(old) | set(meta) if old.get(k) != meta.get(k))
      raise EvalError(
          f"{ckpt_dir}: holds a {what} checkpoint trained on other data or "
          f"settings (differs in: {', '.join(diff)}); pass --overwrite "
          "(overwrite=True in Python) to retrain it, or choose another workdir")
    log(f"{what}: overwrite=True: replacing the checkpoint in {ckpt_dir}")
    shutil.rmtree(ckpt_dir)
  clf = train()
  clf_lib.save(ckpt_dir, clf, meta)
  return clf


def _random_baseline_samples(samples_dir: str, log, data_dir: str, n_classes,
                             model_config: str, per_class: int, paper_draw: bool,
                             config: EvalConfig) -> None:
  """``baseline="random"``: makes sure ``samples_dir`` holds an untrained model's clips.

  Clips already there are used as they are; otherwise a freshly initialised
  model of ``model_config`` (a configs/*.py file) is sampled into it: clips
  of the classifier's window, with the first classifier seed.
  """
  if samples_lib.wav_files(samples_dir):
    log(f"baseline random: evaluating {samples_dir} as an untrained model's clips")
    return
  names, splits = _load_real(data_dir, n_classes, config.features.sample_rate)
  log(f"baseline random: sampling an untrained {model_config} model into {samples_dir} "
      + ("as the paper drew (minmax, T 1.0)" if paper_draw else "as sample.py draws "
         "(class level, T 0.95)"))
  # At the real recordings' class loudness, as sample.py plays a trained model's
  # clips (unless drawn as the paper drew: min-max).
  class_rms = levels.class_rms(splits["train"].wav, splits["train"].sid, len(names))
  sample_files.sample_untrained(config_lib.load_config_file(model_config), names,
                                samples_dir, per_class, config.window_seconds,
                                config.seeds[0], class_rms=class_rms, paper_draw=paper_draw)


def _manifest_steps(samples_dir: str) -> list:
  """The ``step`` of every manifest entry ([] without a manifest)."""
  path = os.path.join(samples_dir, samples_lib.MANIFEST)
  if not os.path.isfile(path):
    return []
  with open(path, encoding="utf-8") as f:
    return [e.get("step") for e in json.load(f)]


def _load_real(data_dir: str, n_classes: int | None, sample_rate: int | None = None):
  """Class names and the train, valid (or None) and test splits of ``data_dir``
  as train.py takes it (``datasets.open_dataset``: npz splits, class folders
  packed once, or ``synthetic``, drawn afresh); the test split is required.
  ``sample_rate``: the features' rate, which splits that record theirs must
  have."""
  located = datasets.locate(data_dir)
  if data_dir != "synthetic" and not os.path.isdir(located):
    raise EvalError(f"data_dir {data_dir}: {files.not_a_folder(located)} (expected a "
                    "folder of npz splits or of class folders, or synthetic)")
  ds = datasets.open_dataset(data_dir, n_classes or 0, setting="data_dir",  # train required
                             n_classes_setting="n_classes", sample_rate=sample_rate,
                             rate_setting=f"the evaluation's classifier hears {sample_rate} "
                             "Hz; clips of another rate are not evaluated")
  if ds.test is None:
    raise EvalError(f"data_dir {ds.data_dir}: missing the test split "
                    f"{splits_lib.split_path(ds.data_dir, 'test')} (the evaluation needs "
                    "audio_train.npz and audio_test.npz; audio_valid.npz is optional)")
  return ds.class_names, {"train": ds.train, "valid": ds.valid, "test": ds.test}


def _split_features(split: splits_lib.Split, cfg: EvalConfig, mode: str):
  try:
    return feat_lib.features_of_clips(
        feat_lib.split_clips(split.wav, split.sid), cfg.window, mode, cfg.features)
  except ValueError as e:
    raise DataError(f"{split.path}: key 'wav' {e}") from e


def _frechet_or_none(a, b, what, notes):
  if a.shape[0] < 2 or b.shape[0] < 2:
    note = (f"Frechet distance {what}: needs at least 2 real and 2 generated "
            f"clips (has {a.shape[0]} and {b.shape[0]}); left null")
    if note not in notes:  # once, not once per classifier seed
      notes.append(note)
    return None
  return frechet_lib.frechet_of_sets(a, b)


def _check_start(samples_dir: str, out_dir: str, overwrite: bool, baseline,
                 baseline_config: str) -> None:
  """The refusals before any work: an unknown baseline, outputs already in
  ``out_dir``, a missing ``samples_dir`` or one a sample.py is writing into
  (before the real data is packed), a missing ``baseline_config`` where the
  random baseline's clips are to be made (the default is the repository's
  configs/default.py, which an installed wheel lacks)."""
  if baseline not in (None, "random"):
    raise EvalError(f"baseline {baseline!r}: expected 'random'", "baseline")
  if (baseline == "random" and not samples_lib.wav_files(samples_dir)
      and not os.path.isfile(baseline_config)):
    raise EvalError(f"baseline_config {baseline_config}: no such config file (the "
                    "model whose untrained clips the random baseline evaluates: "
                    "a configs/*.py file of the repository)", "baseline_config")
  _check_outputs_free(out_dir, overwrite)
  if baseline is None and not os.path.isdir(samples_dir):
    raise EvalError(f"samples_dir {samples_dir}: {files.not_a_folder(samples_dir)}",
                    "samples_dir")
  samples_lib.check_not_being_written(samples_dir)


def _check_outputs_free(out_dir: str, overwrite: bool) -> None:
  existing = [f for f in (EVAL_JSON, REPORT_HTML)
              if os.path.exists(os.path.join(out_dir, f))]
  if existing and not overwrite:
    raise EvalError(f"{out_dir}: already holds {', '.join(existing)} from an "
                    "earlier evaluation; pass --overwrite (overwrite=True in "
                    "Python) to replace them, or choose another out_dir")


def _input_notes(splits, clips, names, samples_dir, baseline, config) -> list[str]:
  notes = []
  for split in splits.values():
    if split is not None and split.clip_len < config.window:
      notes.append(f"{split.path}: clips of {split.clip_len} samples are shorter "
                   f"than the {config.window}-sample window; zero-padded")
  short = sum(c.wav.shape[0] < config.window for c in clips)
  if short:
    notes.append(f"{short} generated clip(s) shorter than the window; zero-padded")
  made = {c.class_index for c in clips}
  missing = [name for k, name in enumerate(names) if k not in made]
  if clips and missing:
    notes.append(f"no generated clip of {', '.join(missing)}: f_gen never learns "
                 "those classes (so misses their real test clips), and the overall "
                 "Frechet distance sets every real test clip against the other "
                 "classes' clips")
  if baseline == "random":
    steps = sorted({str(st) for st in _manifest_steps(samples_dir)} - {"0", "None"})
    if steps:
      notes.append(f"baseline random: {samples_dir}/{samples_lib.MANIFEST} gives "
                   f"training steps {', '.join(steps)}; an untrained model's "
                   "clips come from step 0")
  return notes


def _seed_dir(base: str, name: str, seed: int, first: int) -> str:
  """``<base>/f_real`` for the first seed, ``<base>/f_real_seed<N>`` for others."""
  return os.path.join(base, name if seed == first else f"{name}_seed{seed}")


def _train_classifiers(splits, clips, n, workdir, out_dir, overwrite, config, seed, log):
  """f_real (reused from ``<workdir>/f_real`` when it matches) and f_gen of one seed."""
  cfg = config.with_seed(seed)
  settings = {"n_classes": n, "window_seconds": config.window_seconds,
              "features": dataclasses.asdict(config.features),
              "classifier": dataclasses.asdict(cfg)}

  def train_real():  # features of the (large) training split only when needed
    x, y, _ = _split_features(splits["train"], config, "cover")  # [N, F, M], [N]
    valid = (_split_features(splits["valid"], config, "first")[:2]
             if splits["valid"] is not None else None)
    return clf_lib.train(x, y, n, cfg, valid=valid, log=log, name=f"f_real seed {seed}")

  def train_gen():
    x, y, _ = feat_lib.features_of_clips(
        [(c.wav, c.class_index) for c in clips], config.window, "cover",
        config.features)
    return clf_lib.train(x, y, n, cfg, log=log, name=f"f_gen seed {seed}")

  valid = splits["valid"]
  first = config.seeds[0]
  f_real = _train_or_restore(
      _seed_dir(workdir, "f_real", seed, first),
      dict(settings, kind="f_real", train=_split_fingerprint(splits["train"]),
           valid=_split_fingerprint(valid) if valid is not None else None),
      overwrite, "f_real", train_real, n, config, log)
  f_gen = _train_or_restore(
      _seed_dir(out_dir, "f_gen", seed, first),
      dict(settings, kind="f_gen", samples=_clips_fingerprint(clips)),
      overwrite, "f_gen", train_gen, n, config, log)
  return f_real, f_gen


@dataclasses.dataclass
class _Inputs:
  """Features of everything a classifier judges (each clip's first window)."""
  x_test: np.ndarray  # float32 [N_test, F, M]
  y_test: np.ndarray  # int [N_test]
  x_valid: np.ndarray | None  # [N_valid, F, M], None without a valid split
  x_gen: np.ndarray  # [N_gen, F, M]
  y_gen: np.ndarray  # [N_gen]


def _inputs(splits, clips, config: EvalConfig) -> _Inputs:
  """Each clip judged on its first window: log-mel [N, F, M], labels [N]."""
  x_test, y_test, _ = _split_features(splits["test"], config, "first")
  x_gen, y_gen, _ = feat_lib.features_of_clips(
      [(c.wav, c.class_index) for c in clips], config.window, "first",
      config.features)
  x_valid = (_split_features(splits["valid"], config, "first")[0]
             if splits["valid"] is not None else None)
  return _Inputs(x_test, y_test, x_valid, x_gen, y_gen)


def per_class_accuracy(labels: np.ndarray, preds: np.ndarray, names) -> dict:
  """{class name: the fraction of its clips predicted as it (the class's
  recall), None for a class with no clips} of labels and preds int [N]."""
  return {name: (float(np.mean(preds[labels == c] == c)) if np.any(labels == c) else None)
          for c, name in enumerate(names)}


def _score_seed(f_real, f_gen, inp: _Inputs, names, notes) -> dict:
  """Accuracies, predictions and Frechet distances of one seed's classifiers."""
  n = len(names)
  logits_rt, emb_rt = f_real.predict(inp.x_test)  # [N_test, C], [N_test, E]
  logits_g, emb_g = f_real.predict(inp.x_gen)  # [N_gen, C], [N_gen, E]
  logits_gr, _ = f_gen.predict(inp.x_test)  # [N_test, C]
  preds = {"f_real_on_real_test": (inp.y_test, logits_rt.argmax(-1)),
           "f_real_on_generated": (inp.y_gen, logits_g.argmax(-1)),
           "f_gen_on_real_test": (inp.y_test, logits_gr.argmax(-1))}
  out = {k: float(np.mean(p == y)) for k, (y, p) in preds.items()}
  out["preds"] = preds
  out["per_class"] = {k: per_class_accuracy(y, p, names) for k, (y, p) in preds.items()}
  out["frechet"] = _frechet_or_none(emb_rt, emb_g, "overall", notes)
  out["frechet_per_class"] = {
      names[c]: _frechet_or_none(emb_rt[inp.y_test == c], emb_g[inp.y_gen == c],
                                 f"of class {names[c]!r}", notes)
      for c in range(n)}
  out["frechet_real_floor"] = None
  if inp.x_valid is not None:
    _, emb_rv = f_real.predict(inp.x_valid)
    out["frechet_real_floor"] = _frechet_or_none(emb_rv, emb_rt, "valid vs test", notes)
  out["f_real_on_valid"] = f_real.valid_accuracy
  out["f_real_history"] = f_real.history
  return out


def spread(values) -> dict | None:
  """{mean, min, max, per_seed} of per-seed figures (None when any is None)."""
  if any(v is None for v in values):
    return None
  v = [float(x) for x in values]
  return {"mean": float(np.mean(v)), "min": min(v), "max": max(v), "per_seed": v}


def _mean(values) -> float | None:
  s = spread(values)
  return None if s is None else s["mean"]


def _combine(per_seed: list[dict], names, seeds) -> dict:
  """The figures over seeds: each a mean, with its spread in ``spread``."""
  keys = ACCURACIES + ("frechet", "frechet_real_floor", "f_real_on_valid")
  sp = {k: spread([r[k] for r in per_seed]) for k in keys}
  results = {k: (None if sp[k] is None else sp[k]["mean"]) for k in keys}
  results["seeds"] = list(seeds)
  results["spread"] = sp
  results["per_class_spread"] = {
      k: {c: spread([r["per_class"][k][c] for r in per_seed]) for c in names}
      for k in ACCURACIES}
  results["per_class_accuracy"] = {
      k: {c: (None if s is None else s["mean"]) for c, s in per_class.items()}
      for k, per_class in results["per_class_spread"].items()}
  results["frechet_per_class"] = {
      c: _mean([r["frechet_per_class"][c] for r in per_seed]) for c in names}
  return results


def _chance(y_test: np.ndarray, n: int) -> dict:
  """What guessing scores: 1/C on a balanced set; the largest class's share of
  the real test split (always answering that class)."""
  counts = np.bincount(np.asarray(y_test), minlength=n)
  return {"uniform": 1.0 / n,
          "real_test_majority": float(counts.max() / max(counts.sum(), 1))}


def _model_info(samples_dir: str) -> dict | None:
  """Which model made the clips: ``model.json`` written by sample.py, else the
  steps named in the manifest."""
  path = os.path.join(samples_dir, sample_files.MODEL_JSON)
  if os.path.isfile(path):
    try:
      with open(path, encoding="utf-8") as f:
        return json.load(f)
    except (OSError, ValueError) as e:
      raise EvalError(f"{path}: cannot read as JSON ({e})") from e
  steps = sorted({str(s) for s in _manifest_steps(samples_dir)})
  return {"steps": steps} if steps else None


def _fmt_spread(s: dict | None, digits: int = 3) -> str:
  if s is None:
    return "n/a"
  if len(s["per_seed"]) == 1:
    return f"{s['mean']:.{digits}f}"
  return f"{s['mean']:.{digits}f} (min {s['min']:.{digits}f}, max {s['max']:.{digits}f})"


def _summary(results: dict, baseline) -> dict:
  """The lines at the top of report.html."""
  sp = results["spread"]
  n_seeds = len(results["seeds"])
  summary = {"seeds": f"{n_seeds} classifier seed(s) {results['seeds']}: "
                      "mean (min, max) over seeds"}
  for k in ACCURACIES:
    summary[k] = f"{_fmt_spread(sp[k])}; paper: {PAPER[k]:.3f}"
  if baseline == "random":
    summary["f_real_on_generated"] = (
        f"{_fmt_spread(sp['f_real_on_generated'])}; paper, random model: "
        f"{PAPER['f_real_on_random_model']:.3f}")
    summary["f_gen_on_real_test"] = (
        f"{_fmt_spread(sp['f_gen_on_real_test'])}; paper: none for a random model "
        f"(its trained model's: {PAPER['f_gen_on_real_test']:.3f})")
  ch = results["chance"]
  summary["chance"] = (f"{ch['uniform']:.3f} (1 / classes); always the largest "
                       f"real test class: {ch['real_test_majority']:.3f}")
  summary["per class, f_real on generated"] = ", ".join(
      f"{c} {v:.2f}" for c, v in results["per_class_accuracy"]["f_real_on_generated"].items()
      if v is not None)
  summary["Frechet distance (f_real embeddings, real test vs generated)"] = \
      _fmt_spread(sp["frechet"], 1)
  summary["Frechet floor (real valid vs real test)"] = _fmt_spread(sp["frechet_real_floor"], 1)
  summary.update({f"Frechet distance, {k}": "n/a" if v is None else f"{v:.1f}"
                  for k, v in results["frechet_per_class"].items()})
  model = results.get("model")
  summary["model"] = "unknown (no model.json)" if not model else json.dumps(
      {k: model[k] for k in ("workdir", "checkpoint", "step", "level", "temperature",
                             "guidance", "seed")
       if k in model} or model)
  return summary


def _write_outputs(out_dir, results, preds, names, x_test, test_split, x_gen,
                   y_gen, clips, samples_dir, baseline, notes, config) -> None:
  """Confusion matrices (first seed), example clips and spectrograms,
  report.html, eval.json."""
  n = len(names)
  figures = {}
  for k, (y, p) in preds.items():
    rel = f"figures/confusion_{k}.png"
    report_lib.plot_confusion(
        os.path.join(out_dir, rel), report_lib.confusion_matrix(y, p, n), names,
        f"{k} (seed {results['seeds'][0]}): accuracy {np.mean(p == y):.3f}")
    figures[k] = rel
  results["confusion_matrices"] = figures
  hop_s = config.features.hop / config.features.sample_rate

  def example(kind, feats, wav, c):  # feats [F, M], wav [T]
    png, wav_rel = f"figures/{kind}_{c:02d}.png", f"clips/{kind}_{c:02d}.wav"
    report_lib.plot_log_mel(os.path.join(out_dir, png), feats,
                            f"{kind}: {names[c]}", hop_s)
    report_lib.write_wav(os.path.join(out_dir, wav_rel),
                         feat_lib.clip_windows(wav, config.window, "first")[0],
                         config.features.sample_rate)
    return {"png": png, "wav": wav_rel}

  rows = []
  test_sid = np.asarray(test_split.sid)
  for c in range(n):
    r, g = np.nonzero(test_sid == c)[0], np.nonzero(y_gen == c)[0]
    rows.append({
        "name": names[c],
        "real": (example("real", x_test[r[0]],
                         np.asarray(test_split.wav[r[0]], np.float32), c)
                 if r.size else None),
        "generated": (example("generated", x_gen[g[0]], clips[g[0]].wav, c)
                      if g.size else None)})
  title = ("Random-model baseline" if baseline == "random"
           else "Generated scenes") + f": {samples_dir}"
  report_lib.write_html(os.path.join(out_dir, REPORT_HTML), title,
                        _summary(results, baseline), list(figures.values()), rows, notes)
  files.write_json(os.path.join(out_dir, EVAL_JSON), results)  # last


def _context(inputs, names, clips, samples_dir, baseline, real_dir, workdir, out_dir,
             config: EvalConfig, notes) -> dict:
  """What eval.json records beside the accuracies: chance, the model, counts, paths."""
  n, x_valid = len(names), inputs.x_valid
  return {
      "chance": _chance(inputs.y_test, n),
      "model": _model_info(samples_dir),
      "baseline": baseline,
      "class_names": names,
      "counts": {"real_test_clips": int(inputs.x_test.shape[0]),
                 "real_valid_clips": None if x_valid is None else int(x_valid.shape[0]),
                 "generated_clips": len(clips),
                 "generated_per_class": {names[c]: int(np.sum(inputs.y_gen == c))
                                         for c in range(n)}},
      "paper": PAPER,
      "paths": {"data_dir": real_dir,
                "samples": os.path.abspath(samples_dir),
                "f_real_checkpoint": os.path.abspath(os.path.join(workdir, "f_real")),
                "f_gen_checkpoint": os.path.abspath(os.path.join(out_dir, "f_gen"))},
      "config": _jsonable(dataclasses.asdict(config)),
      "notes": notes}


def evaluate(data_dir: str, samples_dir: str, workdir: str | None = None,
             out_dir: str | None = None, overwrite: bool = False,
             baseline: str | None = None, config: EvalConfig = EvalConfig(),
             n_classes: int | None = None, log: Callable[[str], None] = logging.info,
             baseline_config: str = os.path.join(datasets.REPO_ROOT, "configs", "default.py"),
             baseline_per_class: int = 20, baseline_paper_draw: bool = False) -> dict:
  """Runs the whole evaluation; returns what it writes to ``eval.json``.

  Args:
    data_dir: real data: audio_{train,test}.npz (audio_valid.npz and
      classes.json optional), or a folder of class sub-folders as train.py
      takes it (packed once into ``<data_dir>/.packed``), or "synthetic"
      (train.py's synthetic classes, drawn afresh).
    samples_dir: generated clips (see ``samples``).
    workdir: holds the f_real checkpoints (``<workdir>/f_real``, and
      ``f_real_seed<N>`` for the other seeds); default ``<samples_dir>/eval``.
      One workdir can serve several sample directories.
    out_dir: the outputs and the f_gen checkpoints; default ``<samples_dir>/eval``.
    overwrite: replace existing outputs (and mismatched checkpoints).
    baseline: None, or "random" for an untrained model's clips (generated
      into an empty ``samples_dir`` from ``baseline_config``,
      ``baseline_per_class`` a class, drawn as sample.py draws, or as the
      paper drew with ``baseline_paper_draw``).
    config: windows, features, classifier settings and seeds.
    n_classes: default: the length of classes.json, else 1 + the largest label.
    log: progress lines (evaluate.py prints them; default: absl logging).
  """
  config.validate()
  workdir = workdir or os.path.join(samples_dir, "eval")
  out_dir = out_dir or os.path.join(samples_dir, "eval")  # not workdir: it may be shared
  _check_start(samples_dir, out_dir, overwrite, baseline, baseline_config)
  if baseline == "random":
    _random_baseline_samples(samples_dir, log, data_dir, n_classes, baseline_config,
                             baseline_per_class, baseline_paper_draw, config)
  names, splits = _load_real(data_dir, n_classes, config.features.sample_rate)
  n = len(names)
  real_dir, has_class_file = _real_dir(data_dir, splits)
  clips, notes = samples_lib.read_samples(
      samples_dir, names, config.features.sample_rate, check_names=has_class_file)
  notes += _input_notes(splits, clips, names, samples_dir, baseline, config)
  for note in notes:
    log(f"note: {note}")

  inputs = _inputs(splits, clips, config)
  x_test, y_gen = inputs.x_test, inputs.y_gen
  per_seed = []
  for seed in config.seeds:
    f_real, f_gen = _train_classifiers(splits, clips, n, workdir, out_dir,
                                       overwrite, config, seed, log)
    per_seed.append(_score_seed(f_real, f_gen, inputs, names, notes))
  results = _combine(per_seed, names, config.seeds)
  results.update(_context(inputs, names, clips, samples_dir, baseline, real_dir,
                          workdir, out_dir, config, notes))
  results["f_real_history"] = per_seed[0]["f_real_history"]
  _write_outputs(out_dir, results, per_seed[0]["preds"], names, x_test, splits["test"],
                 inputs.x_gen, y_gen, clips, samples_dir, baseline, notes, config)
  log(f"wrote {os.path.join(out_dir, EVAL_JSON)} and {REPORT_HTML}: {_headline(results)}")
  return results


def _real_dir(data_dir: str, splits) -> tuple[str, bool]:
  """Where the real splits are (packed when class folders; "synthetic" when
  made) and whether their class names are known (classes.json, or the
  synthetic data's own), so that generated clips are matched by name."""
  if data_dir == "synthetic":
    return data_dir, True
  real_dir = os.path.dirname(os.path.abspath(splits["train"].path))
  return real_dir, os.path.isfile(os.path.join(real_dir, splits_lib.CLASSES_FILE))


def _headline(results: dict) -> str:
  sp = results["spread"]
  return (", ".join(f"{k} {_fmt_spread(sp[k])}" for k in ACCURACIES)
          + ", frechet " + _fmt_spread(sp["frechet"], 1)
          + " (real floor " + _fmt_spread(sp["frechet_real_floor"], 1) + ")")
