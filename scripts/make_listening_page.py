"""Builds the listening page and the spectrogram figure from generated clips.

  python scripts/make_listening_page.py --samples demo_samples --data_dir data/default \\
      --out docs/listen --figure docs/spectrograms.png

Writes ``OUT/index.html`` (opens from disk: every path in it is relative),
``OUT/clips/{real,generated}_<class>_<k>.ogg`` (``--clips`` of each per class,
the first ``--seconds`` of each, 16 kHz mono Ogg Vorbis) and ``--figure``, a
PNG grid of log-mel spectrograms, one row per class, real test clips beside
generated ones. Real clips come from the test split of ``--data_dir``;
generated ones are taken in manifest order. An existing page or figure is
not replaced without ``--overwrite`` (``--figure`` defaults to the shipped
docs/spectrograms.png: a page of your own clips needs a path of its own);
replaced, the earlier page's clips the new one does not play are removed.
"""
import html
import json
import math
import os
import re

import numpy as np
import soundfile as sf
from absl import app, flags
from matplotlib.figure import Figure

from samplernn_jax import cli, files
from samplernn_jax import data as data_lib
from samplernn_jax import sample_files
from samplernn_jax.evaluation import features as feat_lib
from samplernn_jax.evaluation import samples as samples_lib

_SAMPLES = flags.DEFINE_string("samples", "", "folder of generated clips (sample.py output)")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "real data, as train.py takes it")
_OUT = flags.DEFINE_string("out", "docs/listen", "folder of index.html and clips/")
_FIGURE = flags.DEFINE_string("figure", "docs/spectrograms.png", "the PNG grid")
_CLIPS = flags.DEFINE_integer("clips", 2, "clips per class and kind on the page")
_SECONDS = flags.DEFINE_float("seconds", 4.0, "seconds of each clip on the page")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "replace an existing page")
_TITLE = flags.DEFINE_string("title", "samplernn-jax: real and generated scenes", "page title")
_CREDIT = flags.DEFINE_string(
    "credit", "Real clips and the training data: ambient sounds of 0 A.D. by Wildfire "
    "Games, CC BY-SA 3.0 (data/README.md); the generated clips are derivatives of them.",
    "attribution line at the foot of the page")
RATE = 16000

def _shown(per_class: list[list[np.ndarray]], n: int) -> str:
  """What the page holds, as it is: e.g. '2 clips per class, the first 4 s of
  each' ('up to' where a class has fewer, and the shortest clip's length
  where one is shorter than ``n`` samples)."""
  counts = [len(c) for c in per_class]
  lengths = [len(w) for c in per_class for w in c]
  most = max(counts)
  count = (f"{'' if len(set(counts)) == 1 else 'up to '}{most} clip{'' if most == 1 else 's'} "
           "per class")
  what = f"{count}, the first {n / RATE:g} s of each"
  if lengths and min(lengths) < n:
    what += f" (the shortest clip {min(lengths) / RATE:g} s)"
  return what


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:60em}}
td,th{{padding:6px;border:1px solid #ccc;vertical-align:top}}table{{border-collapse:collapse}}
img{{max-width:100%}}audio{{width:16em}}</style></head>
<body><h1>{title}</h1>
<p>{intro}</p>
<p><img src="{figure}" alt="log-mel spectrograms, real beside generated, one row per class"></p>
<table><tr><th>class</th><th>real (test split)</th><th>generated</th></tr>
{rows}
</table>
<p>{credit}</p>
</body></html>
"""


def _ogg(path: str, wav: np.ndarray) -> None:
  x = np.clip(np.asarray(wav, np.float32), -1.0, 1.0)
  files.atomic_write(path, lambda tmp: sf.write(tmp, x, RATE, format="OGG",
                                                     subtype="VORBIS"))


def _figure(path: str, names, real, gen) -> None:
  """One row per class: a real and a generated log-mel spectrogram."""
  cfg = feat_lib.FeatureConfig()
  fig = Figure(figsize=(8.0, 1.6 * len(names) + 0.4))
  axes = fig.subplots(len(names), 2, squeeze=False)
  for i, name in enumerate(names):
    for j, (kind, clips) in enumerate((("real", real), ("generated", gen))):
      ax = axes[i][j]
      if clips[i]:
        m = np.asarray(feat_lib.log_mel(clips[i][0][None], cfg))[0]  # [F, M]
        ax.imshow(m.T, origin="lower", aspect="auto", cmap="magma", vmin=-14, vmax=6,
                  extent=(0, m.shape[0] * cfg.hop / RATE, 0, m.shape[1]))
      ax.set_title(f"{name}: {kind}", fontsize=8)
      ax.tick_params(labelsize=6)
      ax.set_ylabel("mel band", fontsize=6)
  axes[-1][0].set_xlabel("s", fontsize=7)
  axes[-1][1].set_xlabel("s", fontsize=7)
  fig.tight_layout()
  files.atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))


def _run():
  if not (_SAMPLES.value and _DATA_DIR.value):
    raise ValueError("--samples and --data_dir are required")
  if _CLIPS.value < 1:
    raise ValueError(f"--clips={_CLIPS.value}: expected at least 1")
  if not (_SECONDS.value > 0 and math.isfinite(_SECONDS.value)):
    raise ValueError(f"--seconds={_SECONDS.value}: expected a positive number")
  index = os.path.join(_OUT.value, "index.html")
  for path, what in ((index, "the page"),
                     (_FIGURE.value, "the figure (or give --figure a path of its own)")):
    if os.path.exists(path) and not _OVERWRITE.value:
      raise FileExistsError(f"{path} exists; pass --overwrite to replace {what}")
  ds = data_lib.open_dataset(_DATA_DIR.value, setting="--data_dir")
  if ds.test is None:
    raise ValueError(f"--data_dir {_DATA_DIR.value}: has no test split to take real clips from")
  names = ds.class_names
  gen_clips, _ = samples_lib.read_samples(_SAMPLES.value, names, RATE)
  n = int(round(_SECONDS.value * RATE))
  sid = np.asarray(ds.test.sid)
  real = [[np.asarray(ds.test.wav[r, :n], np.float32) for r in np.nonzero(sid == c)[0][:_CLIPS.value]]
          for c in range(len(names))]
  gen = [[c.wav[:n] for c in gen_clips if c.class_index == k][:_CLIPS.value]
         for k in range(len(names))]
  os.makedirs(os.path.join(_OUT.value, "clips"), exist_ok=True)
  rows, written = [], set()
  for k, name in enumerate(names):
    cells = []
    for kind, clips in (("real", real[k]), ("generated", gen[k])):
      players = []
      for i, wav in enumerate(clips):
        rel = f"clips/{kind}_{sample_files.safe_name(name)}_{i}.ogg"
        _ogg(os.path.join(_OUT.value, rel), wav)
        written.add(rel)
        players.append(f'<audio controls preload="metadata" src="{html.escape(rel)}"></audio>')
      cells.append("<td>" + ("<br>".join(players) or "(none)") + "</td>")
    rows.append(f"<tr><th>{html.escape(name)}</th>{''.join(cells)}</tr>")
  _figure(_FIGURE.value, names, real, gen)
  model = os.path.join(_SAMPLES.value, sample_files.MODEL_JSON)
  about = ""
  if os.path.isfile(model):
    with open(model, encoding="utf-8") as f:
      m = json.load(f)
    about = (f" Generated by the checkpoint at step {m.get('step')} with level "
             f"'{m.get('level')}' and temperature {m.get('temperature')}.")
  intro = (_shown(real + gen, n) + ": real recordings from the test split beside clips "
           "generated for the same class." + about)
  figure_rel = os.path.relpath(os.path.abspath(_FIGURE.value), os.path.abspath(_OUT.value))
  files.write_text(index, PAGE.format(title=html.escape(_TITLE.value),
                                           intro=html.escape(intro),
                                           figure=html.escape(figure_rel.replace(os.sep, "/")),
                                           rows="\n".join(rows),
                                           credit=html.escape(_CREDIT.value)))
  _remove_stale_clips(os.path.join(_OUT.value, "clips"), written)
  print(f"wrote {index} ({sum(map(len, real)) + sum(map(len, gen))} clips) and {_FIGURE.value}")


def _remove_stale_clips(folder: str, written: set[str]) -> None:
  """Removes the clips an earlier page wrote (``real_*.ogg``,
  ``generated_*.ogg``) that this page does not play: with --overwrite and
  fewer --clips or other classes they stayed, unplayed, beside the new ones.
  Other files in the folder are left."""
  for name in sorted(os.listdir(folder)):
    if (re.fullmatch(r"(real|generated)_.+_\d+\.ogg", name)
        and f"clips/{name}" not in written):
      os.remove(os.path.join(folder, name))


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
