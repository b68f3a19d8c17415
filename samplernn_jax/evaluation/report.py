"""Output files of the evaluation, each written atomically (temp + os.replace).

Layout under the output directory (paths in ``report.html`` are relative, so
the page opens from disk without a server):

* ``eval.json``: the numbers;
* ``report.html``: the figures, then one row per class with a real and a
  generated clip side by side (log-mel PNG and an ``<audio>`` player);
* ``figures/confusion_<name>.png``: one confusion matrix per accuracy;
* ``figures/{real,generated}_<class index>.png``: log-mel spectrograms;
* ``clips/{real,generated}_<class index>.wav``: the clips the page plays
  (16-bit PCM, the window the classifier saw).

Matplotlib is used through ``Figure`` objects (no pyplot global state).
"""
from __future__ import annotations

import html
import string
from typing import Sequence

import numpy as np
import soundfile as sf
from matplotlib.figure import Figure

from samplernn_jax.files import atomic_write, write_text




def write_wav(path: str, wav: np.ndarray, sample_rate: int) -> None:
  """float [T] audio as 16-bit PCM WAV (clipped to [-1, 1])."""
  x = np.clip(np.asarray(wav, np.float32), -1.0, 1.0)
  atomic_write(path, lambda tmp: sf.write(tmp, x, sample_rate, format="WAV",
                                          subtype="PCM_16"))


def _save_fig(fig: Figure, path: str) -> None:
  atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, n: int) -> np.ndarray:
  """Counts int64 [C, C]: row = true class, column = predicted class."""
  cm = np.zeros((n, n), np.int64)
  np.add.at(cm, (np.asarray(labels), np.asarray(preds)), 1)
  return cm


def plot_confusion(path: str, cm: np.ndarray, class_names: Sequence[str],
                   title: str) -> None:
  n = cm.shape[0]
  size = 2.5 + 0.45 * n
  fig = Figure(figsize=(size, size))
  ax = fig.add_subplot()
  rows = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
  ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
  for i in range(n):
    for j in range(n):
      if cm[i, j]:
        ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                color="white" if rows[i, j] > 0.5 else "black")
  ax.set_xticks(range(n), class_names, rotation=90, fontsize=7)
  ax.set_yticks(range(n), class_names, fontsize=7)
  ax.set_xlabel("predicted")
  ax.set_ylabel("true")
  ax.set_title(title, fontsize=9)
  fig.tight_layout()
  _save_fig(fig, path)


def plot_log_mel(path: str, feats: np.ndarray, title: str, hop_seconds: float) -> None:
  """A log-mel spectrogram [F, M] as a PNG (time across, mel band up)."""
  fig = Figure(figsize=(4.0, 2.2))
  ax = fig.add_subplot()
  ax.imshow(feats.T, origin="lower", aspect="auto", cmap="magma",
            extent=(0, feats.shape[0] * hop_seconds, 0, feats.shape[1]))
  ax.set_xlabel("s", fontsize=8)
  ax.set_ylabel("mel band", fontsize=8)
  ax.tick_params(labelsize=7)
  ax.set_title(title, fontsize=8)
  fig.tight_layout()
  _save_fig(fig, path)


PAGE = string.Template("""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>$title</title>
<style>body{font-family:sans-serif;margin:1em}td,th{padding:4px;border:1px solid #ccc;vertical-align:top}
table{border-collapse:collapse}img{max-width:100%}</style></head>
<body><h1>$title</h1>
<table>$summary</table>
<h2>Confusion matrices</h2>
$figures
<h2>Real and generated clips, one row per class</h2>
<table><tr><th>class</th><th>real (test split)</th><th>generated</th></tr>
$rows
</table>
$notes
</body></html>
""")


def _cell(clip: dict | None) -> str:
  if clip is None:
    return "<td>(none)</td>"
  return (f'<td><img src="{html.escape(clip["png"])}" alt="log-mel"><br>'
          f'<audio controls preload="none" src="{html.escape(clip["wav"])}"></audio></td>')


def write_html(path: str, title: str, summary: dict, figures: Sequence[str],
               rows: Sequence[dict], notes: Sequence[str]) -> None:
  """The report page.

  Args:
    path: where report.html goes; every other path is relative to its dir.
    title: page title.
    summary: {label: value} lines at the top.
    figures: relative PNG paths.
    rows: per class {"name", "real": {"png", "wav"} | None, "generated": ...}.
    notes: free-text lines at the bottom.
  """
  esc = html.escape
  page = PAGE.substitute(
      title=esc(title),
      summary="".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>"
                      for k, v in summary.items()),
      figures="\n".join(f'<img src="{esc(f)}" alt="{esc(f)}">' for f in figures),
      rows="\n".join(f"<tr><th>{esc(r['name'])}</th>{_cell(r['real'])}"
                     f"{_cell(r['generated'])}</tr>" for r in rows),
      notes=("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes)
             + "</ul>") if notes else "")
  write_text(path, page)
