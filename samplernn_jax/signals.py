"""Stop requests by signal, checked by loops at safe points.

Ctrl-C (SIGINT) and the schedulers' SIGTERM (SLURM and most batch systems
send it before preemption) must never be lost, wherever they land: a
KeyboardInterrupt raised inside a garbage-collection callback or a library's
thread is printed and dropped by Python. ``StopRequests`` instead records
the signal in a flag; the training loop checks it between steps and the
streaming sampler between blocks, then saves or finishes what it holds and
exits with the conventional code (128 + signal number). A second Ctrl-C
(after ``FORCE_AFTER_S``) stops at once, without saving: for a user who
will not wait for an evaluation or a save, or for a run of several
processes whose peer hangs. In the scripts (``quitting_the_process``,
which ``cli.run`` enters) it ends the process (``os._exit``); called from
Python (a notebook) it raises ``QuitNow`` where it lands instead, so the
kernel lives on.

Handlers can be installed only from the main thread; elsewhere the context
does nothing and ``requested`` stays None.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A second SIGINT this long after the first quits at once. Sooner, it is the
# same Ctrl-C delivered twice (a terminal signals the whole foreground
# process group, and launchers such as mpirun forward it again); a repeated
# SIGTERM never quits (SLURM signals a step's tasks directly and through
# srun), so the scheduler's notice always ends in a save.
FORCE_AFTER_S = 1.0


class Stopped(KeyboardInterrupt):
  """Raised after a loop honoured a stop request; ``exit_code`` = 128 + signal."""

  def __init__(self, exit_code: int = 130):
    super().__init__(exit_code)
    self.exit_code = exit_code


class QuitNow(KeyboardInterrupt):
  """A second Ctrl-C outside the scripts (a notebook): raised where the
  signal landed; the loop that catches it saves nothing."""


# True while a script runs (``quitting_the_process``): a second Ctrl-C then
# ends the process.
_quit_process = False


@contextlib.contextmanager
def quitting_the_process() -> Iterator[None]:
  """Within it a second Ctrl-C ends the process (``os._exit``, exit 130)
  instead of raising ``QuitNow``: for a script, whose process is its own."""
  global _quit_process
  before, _quit_process = _quit_process, True
  try:
    yield
  finally:
    _quit_process = before


class StopRequests:
  """``with StopRequests() as stop: ... if stop.requested: ...``"""

  def __init__(self, signals=SIGNALS):
    self.signals = tuple(signals)
    self.requested: int | None = None  # the first signal number received
    self._first_at = 0.0
    self._old = {}

  def _handle(self, signum, frame):
    now = time.monotonic()
    if self.requested is None:
      self.requested, self._first_at = signum, now
      if signum == signal.SIGINT:
        os.write(2, b"\nCtrl-C: stopping at the next safe point (press it again to quit "
                    b"at once, without saving)\n")
    elif signum == signal.SIGINT and now - self._first_at >= FORCE_AFTER_S:
      # os.write and os._exit: safe wherever the handler landed (inside a print too)
      if _quit_process:
        os.write(2, b"\nsecond Ctrl-C: quitting at once, without saving\n")
        os._exit(128 + signum)
      os.write(2, b"\nsecond Ctrl-C: stopping at once, without saving\n")
      raise QuitNow(128 + signum)

  @property
  def name(self) -> str:
    return signal.Signals(self.requested).name if self.requested else ""

  @property
  def exit_code(self) -> int:
    return 128 + int(self.requested or 0)

  def __enter__(self) -> "StopRequests":
    if threading.current_thread() is threading.main_thread():
      for s in self.signals:
        self._old[s] = signal.signal(s, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for s, old in self._old.items():
      signal.signal(s, old)
    self._old = {}
