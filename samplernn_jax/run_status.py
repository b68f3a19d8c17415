"""``status.json``: what a workdir's run is doing, or how it ended, from the
files alone (for whoever comes back to a days-long run).

Process 0 of a run writes it (atomically) when the steps begin, at every
logged step and on each way out. ``state``:

  running    training; ``time`` moves at every log step
  finished   reached its last step
  stopped    a signal (``signal``: SIGTERM, SIGINT) saved the step and exited
  quit       a second Ctrl-C from Python (a notebook): nothing saved
  failed     an error ended it (``error``: its message; e.g. a non-finite loss)

with ``step`` (the last step taken, when known), ``best_valid_bits`` (of
``best/``), and ``pid``, ``host`` and ``time`` (UTC, ISO 8601) of the
write. A ``running`` file whose ``time`` stopped moving belongs to a
process that died without a word (SIGKILL, a host's crash): its ``pid`` on
``host`` says which; the same command resumes it.
"""
from __future__ import annotations

import datetime
import json
import os
import socket

from absl import logging

from samplernn_jax.files import write_json

STATUS_FILE = "status.json"
STATES = ("running", "finished", "stopped", "quit", "failed")


def write(workdir: str, state: str, step: int | None, **extra) -> None:
  """Writes ``workdir/status.json``; a failure to write (a full disk, as the
  run fails for it) is a warning, never the run's error."""
  if state not in STATES:
    raise ValueError(f"run_status.write: state {state!r}; expected one of {STATES}")
  record = {"state": state, "step": step, **extra, "pid": os.getpid(),
            "host": socket.gethostname(),
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
  try:
    write_json(os.path.join(workdir, STATUS_FILE), record)
  except OSError as e:
    logging.warning("%s: not written (%s)", os.path.join(workdir, STATUS_FILE), e.strerror)


def read(workdir: str) -> dict | None:
  """The workdir's status record, or None when there is none (or it cannot
  be read)."""
  try:
    with open(os.path.join(workdir, STATUS_FILE), encoding="utf-8") as f:
      record = json.load(f)
  except (OSError, ValueError):
    return None
  return record if isinstance(record, dict) else None
