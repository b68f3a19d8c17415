"""Metrics out of a run: metrics.jsonl, TensorBoard scalars and curves.png.

Only process 0 writes. On resume, lines after the restored step are dropped
from metrics.jsonl (and TensorBoard is told to purge them), so a resumed run's
records equal an unbroken run's.
"""
from __future__ import annotations

import json
import math
import os

import soundfile as sf
from absl import logging
from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

from samplernn_jax.files import atomic_write, write_json, write_text

METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
CONFIG_FILE = "config.json"


def read_metrics(workdir: str) -> list[dict]:
  """The records of the run's ``metrics.jsonl`` (``read_jsonl``)."""
  return read_jsonl(os.path.join(workdir, METRICS_FILE))


def read_jsonl(path: str) -> list[dict]:
  """The records of a JSON-lines file ([] when there is none). A line that is
  not a JSON record (the torn or NUL-filled tail a crash of the host can
  leave) is skipped with a warning naming the file and line: it must not stop
  every resume."""
  if not os.path.exists(path):
    return []
  records = []
  with open(path, errors="replace", encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
      if not line.strip("\0\n\r\t "):
        continue
      try:
        record = json.loads(line)
      except ValueError:
        record = None
      if not isinstance(record, dict):
        logging.warning("%s:%d: not a JSON record, skipped: %r", path, number, line[:80])
        continue
      records.append(record)
  return records


class MetricsWriter:
  """A run's metrics.jsonl and TensorBoard scalars, written as training goes.

  Made at (re)start: it REWRITES metrics.jsonl, keeping only the records up
  to ``resume_step`` (a resumed run's later records would repeat); to read a
  run's history use ``read_metrics``, never a writer."""

  def __init__(self, workdir: str, resume_step: int, enabled: bool = True):
    self.workdir, self.enabled = workdir, enabled
    self.path = os.path.join(workdir, METRICS_FILE)
    self.tb = None
    if not enabled:
      return
    kept = [r for r in read_metrics(workdir) if r.get("step", 0) <= resume_step]
    write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
    try:
      from tensorboardX import SummaryWriter
      self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                              purge_step=resume_step + 1 if resume_step else None)
    except ImportError:  # TensorBoard is optional
      self.tb = None

  def write(self, record: dict) -> None:
    if not self.enabled:
      return
    with open(self.path, "a", encoding="utf-8") as f:
      f.write(json.dumps(record) + "\n")
      f.flush()
    if self.tb is not None:
      for k, v in record.items():
        if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
          self.tb.add_scalar(k, v, record["step"])
      self.tb.flush()

  def config(self, config: dict, step: int) -> None:
    """The run's resolved config: ``config.json`` and TensorBoard text."""
    if not self.enabled:
      return
    write_json(os.path.join(self.workdir, CONFIG_FILE), config)
    if self.tb is not None:
      text = json.dumps(config, indent=1, sort_keys=True)
      self.tb.add_text("config", "    " + text.replace("\n", "\n    "), step)
      self.tb.flush()

  def clips(self, paths: list[str], step: int) -> None:
    """Audio files (the clips written at an evaluation) as TensorBoard audio,
    one tag per file name."""
    if not self.enabled or self.tb is None:
      return
    for path in paths:
      audio, rate = sf.read(path, dtype="float32")
      self.tb.add_audio("samples/" + os.path.splitext(os.path.basename(path))[0],
                        audio, step, sample_rate=rate)
    self.tb.flush()

  def plot(self) -> None:
    """Redraws curves.png: train / valid / test bits against steps."""
    if not self.enabled:
      return
    rows = read_metrics(self.workdir)
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for key in ("train_bits", "valid_bits", "test_bits"):
      pts = [(r["step"], r[key]) for r in rows if key in r]
      if pts:
        ax.plot(*zip(*pts), marker="." if key != "train_bits" else None,
                label=key.replace("_bits", ""))
    ax.set_xlabel("step")
    ax.set_ylabel("bits per sample")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_write(os.path.join(self.workdir, CURVES_FILE),
                 lambda tmp: fig.savefig(tmp, format="png", dpi=100))

  def close(self) -> None:
    if self.tb is not None:
      self.tb.close()
