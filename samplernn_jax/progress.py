"""Progress bars (tqdm) that suit a terminal and a log file alike.

In a terminal a bar redraws up to ten times a second, each redraw over the
last. Where the bar's stream is a file or a pipe (``train.py > log 2>&1``,
nohup, a SLURM job), every redraw stays in the file: a training run of days
would leave millions of them, hundreds of megabytes of one line. There a
bar redraws once a minute (``LOG_INTERVAL_S``) instead; tqdm's own
``TQDM_MININTERVAL`` environment variable, when set, chooses for both.
"""
from __future__ import annotations

import os
import sys
from typing import Iterable

from tqdm import tqdm

LOG_INTERVAL_S = 60.0


def _is_terminal(stream) -> bool:
  try:
    return bool(stream.isatty())
  except (AttributeError, ValueError):  # no isatty, or a closed stream
    return False


class Bar(tqdm):
  """tqdm whose ``set_postfix`` leaves the redraw to the next update, at the
  bar's interval (tqdm's redraws at once: the training bar's figure every
  ``log_every_steps`` would be a line in the log each time)."""

  def set_postfix(self, ordered_dict=None, refresh: bool = False, **kwargs) -> None:
    super().set_postfix(ordered_dict, refresh=refresh, **kwargs)


def bar(iterable: Iterable | None = None, **kwargs) -> Bar:
  """``Bar(iterable, **kwargs)``, redrawn once a minute where its stream
  (``file``, default stderr) is no terminal."""
  stream = kwargs.get("file") or sys.stderr
  if "TQDM_MININTERVAL" not in os.environ and not _is_terminal(stream):
    kwargs.setdefault("mininterval", LOG_INTERVAL_S)
    kwargs.setdefault("maxinterval", LOG_INTERVAL_S)  # tqdm's monitor forces a redraw past it
  return Bar(iterable, **kwargs)


write = tqdm.write  # a line printed above the bars (they redraw below it)
