"""Measures which sampling settings keep generated scenes recognisable.

  python scripts/quality_sweep.py --workdir runs/default --data_dir data/default \\
      --out runs/default/sweep --temperatures 1.0,0.95,0.9 --levels class,minmax,none

For each temperature the checkpoint generates ``--per_class`` clips of every
class once; each level (see ``samplernn_jax/levels.py``) turns those same
clips into audio in ``OUT/step<step>_T<temperature>_<level>/``, which the built-in
evaluation judges (``evaluate.py``'s code; the f_real classifiers are trained
once per seed in ``OUT/eval`` and shared by every setting and checkpoint). Every
setting's output folder is checked free (or --overwrite) before any work. One JSON
line a setting goes to stdout and to ``OUT/rows.jsonl`` (replacing that setting's
earlier row, if any): the checkpoint's valid and
test bits, f_real on generated (mean, min, max over the classifier seeds, and
per class), the Frechet distance and its real-vs-real floor, and how the
clips drift: per-second RMS, DC offset, spectral centroid and share of
changing samples (median over clips) in the model's own scaled domain, beside
the same figures of the real test clips. docs/quality.md tabulates the rows.
"""
import dataclasses
import json
import os

import jax
import numpy as np
from absl import app, flags

from samplernn_jax import cli
from samplernn_jax import data as data_lib
from samplernn_jax import files as files_lib
from samplernn_jax import levels, metrics
from samplernn_jax import quantize as quant
from samplernn_jax import sample_files as sfiles
from samplernn_jax import sampling
from samplernn_jax.evaluation import drift
from samplernn_jax.evaluation import run as eval_run

_WORKDIR = flags.DEFINE_string("workdir", "", "run folder holding the checkpoint")
_CKPT = flags.DEFINE_string("ckpt", "best", "best, latest or a step number")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "real data, as train.py takes it")
_OUT = flags.DEFINE_string("out", "", "output folder (clips, evaluations, rows.jsonl)")
_TEMPS = flags.DEFINE_list("temperatures", ["1.0"], "sampling temperatures")
_LEVELS = flags.DEFINE_list("levels", ["class", "minmax"], "output levels")
_GUIDANCES = flags.DEFINE_list("guidances", ["1.0"], "guidance scales (1: plain draw; "
                               "others need a model trained with config.cond_dropout)")
_PER_CLASS = flags.DEFINE_integer("per_class", 10, "clips per class and setting")
_SECONDS = flags.DEFINE_float("seconds", 5.0, "length of each clip")
_SEED = flags.DEFINE_integer("seed", 0, "sampling seed")
_SEEDS = flags.DEFINE_list("classifier_seeds", ["0", "1", "2"], "classifier seeds")
_EPOCHS = flags.DEFINE_integer("epochs", 30, "classifier epochs")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "replace earlier outputs in --out")
_TABLE = flags.DEFINE_string("table", "", "print rows.jsonl files (comma-separated) as a "
                             "markdown table instead of measuring")


def _fmt(sp, digits=2):
  if sp is None:
    return "n/a"
  if sp["min"] == sp["max"]:
    return f"{sp['mean']:.{digits}f}"
  return f"{sp['mean']:.{digits}f} ({sp['min']:.{digits}f}-{sp['max']:.{digits}f})"


def _guidance(row) -> str:
  """The T column's extras: guidance and sampling seed where not the defaults."""
  g, seed = row.get("guidance", 1.0), row.get("sampling_seed", 0)
  return ("" if g == 1 else f", g {g:g}") + ("" if seed == 0 else f", seed {seed}")


def table(paths) -> str:
  """Markdown table of sweep rows: one line a setting (drift figures stay in
  the JSON rows)."""
  lines = ["| run | step | valid bits | T | level | f_real on generated | per class | "
           "Frechet | f_gen on real test |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for path in paths:
    with open(path, encoding="utf-8") as f:
      for line in f:
        r = json.loads(line)
        per = ", ".join(f"{k} {v:.2f}" for k, v in r["per_class"].items() if v is not None)
        vb = "n/a" if r["valid_bits"] is None else f"{r['valid_bits']:.3f}"
        lines.append(
            f"| {os.path.basename(r['workdir'].rstrip('/'))} | {r['step']} | {vb} | "
            f"{r['temperature']:g}{_guidance(r)} | {r['level']} | {_fmt(r['f_real_on_generated'])} | "
            f"{per} | {_fmt(r['frechet'], 0)} | {_fmt(r['f_gen_on_real_test'])} |")
  return "\n".join(lines)


def _run():
  if _TABLE.value:
    print(table(_TABLE.value.split(",")))
    return
  if not (_WORKDIR.value and _DATA_DIR.value and _OUT.value):
    raise ValueError("--workdir, --data_dir and --out are required")
  for lv in _LEVELS.value:
    unprimed = [l for l in levels.LEVELS if l != "prime"]  # the sweep's clips have no prime
    if lv not in unprimed:
      raise ValueError(f"--levels: {lv!r} is not one of {', '.join(unprimed)}")
  settings = [(t, g) for t in cli.numbers(_TEMPS, float) for g in cli.numbers(_GUIDANCES, float)]
  classifier_seeds = cli.numbers(_SEEDS)
  if not _SECONDS.value >= 1:
    raise ValueError(f"--seconds={_SECONDS.value}: expected at least 1 (the drift figures "
                     "are per second of a clip)")
  loaded = sfiles.load_checkpoint(_WORKDIR.value, _CKPT.value)
  c = loaded.config
  real = data_lib.open_dataset(_DATA_DIR.value, len(loaded.class_names),
                               sample_rate=c.sample_rate, setting="--data_dir",
                               n_classes_setting="the checkpoint's n_classes",
                               rate_setting="the rate the checkpoint was trained at")
  if loaded.class_rms is None:  # an older checkpoint: measure the levels here
    loaded.class_rms = levels.class_rms(real.train.wav, real.train.sid, real.n_classes)
  bits = _checkpoint_bits(_WORKDIR.value, loaded.step)
  n = int(round(_SECONDS.value * c.sample_rate))
  test_q = quant.quantize(np.asarray(real.test.wav[:, :n], np.float64), c.q_type, c.q_levels)
  real_drift = _drift_by_class(quant.dequantize(test_q, c.q_type, c.q_levels),
                               np.asarray(real.test.sid), loaded.class_names)
  cfg = eval_run.EvalConfig(
      seeds=classifier_seeds,
      classifier=dataclasses.replace(eval_run.EvalConfig().classifier, epochs=_EPOCHS.value))
  req = sfiles.make_request(loaded.class_names, None, _PER_CLASS.value, None)
  files = sfiles.file_names(req)
  rows_path = os.path.join(_OUT.value, "rows.jsonl")
  for t, g in settings:  # every setting checked before any work
    sfiles.check_guidance(loaded, g)
    sfiles.check_temperature(t)
    for lv in _LEVELS.value:
      sfiles.check_free(setting_dir(_OUT.value, loaded.step, t, g, lv), files, _OVERWRITE.value)
  os.makedirs(_OUT.value, exist_ok=True)
  for t, g in settings:
    q, logp = sampling.generate(loaded.model, loaded.params, req.class_vecs, n,
                                jax.random.key(_SEED.value), t, guidance=g)
    gen_drift = _drift_by_class(quant.dequantize(q, c.q_type, c.q_levels),
                                np.array(req.classes), loaded.class_names)
    for lv in _LEVELS.value:
      out = setting_dir(_OUT.value, loaded.step, t, g, lv)
      os.makedirs(out, exist_ok=True)
      sfiles.write_clips(loaded, out, req, files, q, lv, t, _SEED.value, guidance=g)
      res = eval_run.evaluate(_DATA_DIR.value, out, workdir=os.path.join(_OUT.value, "eval"),
                              out_dir=os.path.join(out, "eval"), overwrite=_OVERWRITE.value,
                              config=cfg, log=lambda s: None)
      row = {"workdir": _WORKDIR.value, "step": loaded.step, **bits,
             "temperature": t, "guidance": g, "level": lv, "clips_per_class": _PER_CLASS.value,
             "sampling_seed": _SEED.value,
             "seconds": _SECONDS.value, "draw_bits": float(-logp.mean() / np.log(2)),
             "f_real_on_real_test": res["spread"]["f_real_on_real_test"],
             "f_real_on_generated": res["spread"]["f_real_on_generated"],
             "per_class": res["per_class_accuracy"]["f_real_on_generated"],
             "f_gen_on_real_test": res["spread"]["f_gen_on_real_test"],
             "frechet": res["spread"]["frechet"],
             "frechet_real_floor": res["spread"]["frechet_real_floor"],
             "drift_generated": gen_drift, "drift_real_test": real_drift}
      print(json.dumps(row), flush=True)
      add_row(rows_path, row)


def setting_dir(out: str, step: int, t: float, g: float, level: str) -> str:
  """The clips (and their evaluation) of one setting: OUT/step<s>_T<t>[_g<g>]_<level>."""
  guided = "" if g == 1 else f"_g{g:g}"
  return os.path.join(out, f"step{step}_T{t:g}{guided}_{level}")


SETTING_KEYS = ("workdir", "step", "temperature", "guidance", "level", "sampling_seed")


def add_row(path: str, row: dict) -> None:
  """Appends ``row`` to rows.jsonl, replacing a row of the same setting (a
  rerun with --overwrite re-measures it; the table shows each setting once)."""
  key = tuple(row.get(k) for k in SETTING_KEYS)
  kept = [r for r in metrics.read_jsonl(path) if tuple(r.get(k) for k in SETTING_KEYS) != key]
  files_lib.write_text(path, "".join(json.dumps(r) + "\n" for r in kept + [row]))


def _drift_by_class(x, cls, names) -> dict:
  return {names[k]: drift.summary(x[cls == k]) for k in range(len(names)) if (cls == k).any()}


def _checkpoint_bits(workdir: str, step: int) -> dict:
  """valid_bits / test_bits logged at ``step`` in the run's metrics.jsonl."""
  out = {"valid_bits": None, "test_bits": None}
  for r in metrics.read_metrics(workdir):  # a damaged line is skipped with a warning
    if r.get("step") == step and "valid_bits" in r:
      out = {"valid_bits": r["valid_bits"], "test_bits": r.get("test_bits")}
  return out


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
