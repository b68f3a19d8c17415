"""The run folder: one run at a time, writable before any work starts and,
in a run of several processes, the same folder on every host (a probe file);
and an output folder held by one writer at a time (``held_folder``)."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from typing import Iterator

from absl import logging

from samplernn_jax import files
from samplernn_jax.errors import WorkdirError

LOCK_FILE = ".lock"
PROBE_FILE = ".hosts_probe"  # a run of several processes: do they all see the workdir?


def holder_name() -> str:
  """What the lock file says of the run holding it: ``1234 on host0`` (on a
  shared filesystem the pid alone would not say where to look)."""
  return f"{os.getpid()} on {socket.gethostname()}"


class WorkdirLock:
  """An exclusive ``flock`` on ``<workdir>/.lock`` for the life of the run.

  The kernel drops the lock when the process ends, however it ends (SIGKILL
  included), so a crashed run never leaves a stale lock behind. Used as a
  context manager, a run that fails with nothing written but the lock file
  removes the folder if it made it (a mistyped config leaves no empty run).
  """

  def __init__(self, workdir: str):
    self.workdir = workdir
    self._f = None
    self._made = False

  def acquire(self) -> "WorkdirLock":
    check_not_a_file(self.workdir, "workdir")
    try:
      self._made = not os.path.isdir(self.workdir)
      os.makedirs(self.workdir, exist_ok=True)
      f = open(os.path.join(self.workdir, LOCK_FILE), "a+", encoding="utf-8")
    except OSError as e:
      raise WorkdirError(f"workdir={self.workdir}: cannot create or write it ({e.strerror})") from e
    try:
      fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      f.seek(0)
      holder = f.read().strip() or "unknown"
      f.close()
      if e.errno in (errno.EAGAIN, errno.EACCES):
        raise WorkdirError(f"workdir={self.workdir} is in use by another run "
                           f"(pid {holder}); wait for it to end or use another workdir") from e
      hint = ("; its filesystem does not support flock (NFS without lockd, Lustre "
              "without -o flock): use a workdir on one that does"
              if e.errno in files.NO_LOCKS else "")
      raise WorkdirError(
          f"workdir={self.workdir}: cannot lock {LOCK_FILE} ({e.strerror}){hint}") from e
    f.seek(0)
    f.truncate()
    f.write(holder_name())
    f.flush()
    self._f = f
    return self

  def release(self) -> None:
    if self._f is not None:
      fcntl.flock(self._f.fileno(), fcntl.LOCK_UN)
      self._f.close()
      self._f = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, exc_type, *exc):
    if exc_type is not None and self._made and self._f is not None:
      self._remove_if_only_the_lock()
    self.release()

  def _remove_if_only_the_lock(self) -> None:
    """Removes the folder this lock made while the lock is still held (no
    other run can have started in it), when it holds the lock file only."""
    try:
      if os.listdir(self.workdir) == [LOCK_FILE]:
        os.remove(os.path.join(self.workdir, LOCK_FILE))
        os.rmdir(self.workdir)
    except OSError:  # left as it is: the error that ended the run matters more
      pass


def check_not_a_file(path: str, setting: str) -> None:
  """A folder to make or use that is a file already: one clear error (the
  OS says only "File exists")."""
  if os.path.exists(path) and not os.path.isdir(path):
    raise WorkdirError(f"{setting}={path} is a file, not a folder; give a folder's path")


def _missing_top(path: str) -> str | None:
  """The highest folder of ``path`` that does not exist yet (None: it exists)."""
  path, top = os.path.abspath(path), None
  while not os.path.exists(path):
    top, parent = path, os.path.dirname(path)
    if parent == path:
      break
    path = parent
  return top


def _remove_made(path: str, top: str | None) -> None:
  """Removes ``path`` and its parents up to ``top`` (the folders a failed
  run made), each only while empty."""
  path = os.path.abspath(path)
  while top is not None:
    try:
      os.rmdir(path)
    except OSError:  # not empty: something was written, kept
      return
    if path == top:
      return
    path = os.path.dirname(path)


@contextlib.contextmanager
def held_folder(path: str, setting: str) -> Iterator[None]:
  """An exclusive ``flock`` on the folder itself (made if need be) while the
  block runs; another holder's makes this a ``WorkdirError`` at once
  (``setting`` names the folder's flag, e.g. ``out``). No lock file is left
  in it. The folders this made are removed again when the block fails
  having written nothing. Where the filesystem cannot lock a folder (NFS
  locks only files opened for writing): a warning, then unlocked.
  """
  check_not_a_file(path, setting)
  top = _missing_top(path)
  try:
    os.makedirs(path, exist_ok=True)
    fd = os.open(path, os.O_RDONLY)
  except OSError as e:
    _remove_made(path, top)
    raise WorkdirError(f"{setting}={path}: cannot create or open it ({e.strerror})") from e
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno in (errno.EAGAIN, errno.EACCES):
        raise WorkdirError(f"{setting}={path} is in use by another run; wait for it to end "
                           "or use another folder") from e
      logging.warning("%s: cannot lock the folder (%s); writing unlocked", path, e.strerror)
    try:
      yield
    except BaseException:
      _remove_made(path, top)
      raise
  finally:
    os.close(fd)  # drops the lock


@contextlib.contextmanager
def reading_folder(path: str) -> Iterator[bool]:
  """A shared ``flock`` on the folder ``path`` while the block reads it, so
  that no ``held_folder`` writer (sample.py) starts meanwhile. Yields
  whether such a writer holds it now (the caller refuses; nothing is held
  then). Where the folder cannot be opened or locked: False, unlocked."""
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    yield False
    return
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
      busy = False
    except OSError as e:
      busy = e.errno in (errno.EAGAIN, errno.EACCES)
    yield busy
  finally:
    os.close(fd)  # drops the lock


def write_probe(workdir: str) -> str:
  """Process 0 of a run of several processes: writes a new random token to
  ``<workdir>/.hosts_probe`` and returns it; the others read it back
  (``read_probe``) to show they see the same folder. A workdir on each
  host's own disk would otherwise train on until the first checkpoint, whose
  save then waits forever for folders the other hosts never see."""
  token = os.urandom(8).hex()
  try:
    files.write_text(os.path.join(workdir, PROBE_FILE), token)  # whole or not at all
  except OSError as e:
    raise WorkdirError(f"workdir={workdir}: cannot write {PROBE_FILE} ({e.strerror})") from e
  return token


def read_probe(workdir: str) -> str | None:
  """The token in ``<workdir>/.hosts_probe``, or None when there is none
  (yet: ``agreement.check_start`` asks again for a while)."""
  try:
    with open(os.path.join(workdir, PROBE_FILE), encoding="utf-8") as f:
      return f.read().strip()
  except OSError:
    return None


def remove_probe(workdir: str) -> None:
  with contextlib.suppress(OSError):
    os.remove(os.path.join(workdir, PROBE_FILE))


def check_writable(workdir: str) -> None:
  """Writes and removes a small file; a clear error when the disk refuses."""
  probe = os.path.join(workdir, ".write_probe")
  try:
    with open(probe, "wb") as f:
      f.write(b"\0" * 4096)
      f.flush()
      os.fsync(f.fileno())
    os.remove(probe)
  except OSError as e:
    raise WorkdirError(f"workdir={workdir}: not writable ({e.strerror}); "
                       "free some space or fix its permissions") from e
