"""Writing a file so that a reader never sees half of it.

Every file the project writes whole (manifests, audio, reports, parameter
files, metrics.jsonl when a resume cuts it back) goes through
``atomic_write``: written under a temporary name in the same folder, then
renamed onto its path (``os.replace``, atomic on POSIX); on an error the
temporary file is removed and an existing file at ``path`` is left as it
was. Two kinds of file grow in place instead: ``metrics.jsonl`` gains one
flushed line a record, and ``sample.py --stream``'s WAVs a block at a time.

``exclusive`` holds a lock file while one process writes what others would
write too (the packing of a class folder): they wait, then find it written.
``allow_open_files`` makes room for files held open together (the streamed
WAVs) before the first is opened.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import resource
from typing import Callable, Iterator, Sequence

from absl import logging

# What a filesystem without locks answers flock with (NFS without lockd,
# Lustre without -o flock); ENOTSUP is EOPNOTSUPP on Linux, not on macOS.
NO_LOCKS = (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP)


def not_a_folder(path: str) -> str:
  """Why ``path``, expected to be a folder, is not one: ``is a file, not a
  folder`` or ``no such folder`` (for the error that names it)."""
  return "is a file, not a folder" if os.path.exists(path) else "no such folder"


def atomic_write(path: str, write: Callable[[str], None]) -> None:
  """Calls ``write(tmp)`` then renames tmp onto ``path``.

  ``tmp`` keeps ``path``'s extension (soundfile and matplotlib choose the
  format by it unless told).
  """
  atomic_write_all([(path, write)])


def atomic_write_all(writes: Sequence[tuple[str, Callable[[str], None]]]) -> None:
  """``atomic_write`` of several files as one: every ``write(tmp)`` first,
  then every rename. A failed write (a full disk, an error in the writer)
  leaves every path as it was, none replaced (a set of files that describe
  each other, such as clips and their manifest, is never half new, half
  old); the files need room on the disk beside the ones they replace until
  the renames. Each path once (a ValueError before anything is written)."""
  paths = [os.path.abspath(path) for path, _ in writes]
  if len(set(paths)) != len(paths):
    twice = sorted({p for p in paths if paths.count(p) > 1})
    raise ValueError(f"atomic_write_all: {twice[0]} given {paths.count(twice[0])} times; "
                     "expected each path once")
  staged = []
  try:
    for (path, write), full in zip(writes, paths):
      d, base = os.path.split(full)
      os.makedirs(d, exist_ok=True)
      tmp = os.path.join(d, f".{base}.tmp{os.getpid()}{os.path.splitext(base)[1]}")
      staged.append((tmp, path))
      write(tmp)
    for tmp, path in staged:
      os.replace(tmp, path)
  finally:
    for tmp, _ in staged:
      if os.path.exists(tmp):
        os.remove(tmp)


def text_writer(text: str) -> Callable[[str], None]:
  """Writes ``text`` (UTF-8) to the path it is given (``atomic_write_all``)."""
  def w(tmp):
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(text)
  return w


def json_writer(obj) -> Callable[[str], None]:
  """Writes ``obj`` as indented JSON to the path it is given."""
  return text_writer(json.dumps(obj, indent=1) + "\n")


def write_text(path: str, text: str) -> None:
  atomic_write(path, text_writer(text))


def write_json(path: str, obj) -> None:
  atomic_write(path, json_writer(obj))


@contextlib.contextmanager
def exclusive(path: str, what: str) -> Iterator[None]:
  """Holds an exclusive ``flock`` on ``path`` (created if need be), waiting
  while another process holds it (``what`` says for what, in the log). On a
  filesystem that has no locks it warns and goes on unlocked. The kernel
  drops the lock when the process ends, however it ends."""
  with open(path, "a") as f:
    try:
      try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        logging.warning("waiting for another process %s (%s)", what, path)
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    except OSError as e:
      if e.errno not in NO_LOCKS:
        raise
      logging.warning("%s: the filesystem refuses locks (%s); %s unlocked", path,
                      e.strerror, what)
    yield


# Descriptors a JAX process holds besides the files asked for, where it
# cannot count its own (no /proc/self/fd).
_FILES_BESIDE = 64


def allow_open_files(n: int, what: str) -> None:
  """Room for ``n`` more files open at once: the soft limit on open files
  (``ulimit -n``, often 1 024, 256 on macOS) raised to what they need when
  the hard limit allows it; a ValueError naming ``what`` (the setting that
  asks for them) and the limit when it does not (or the system refuses the
  raise). Checked before the first file opens: the refusal leaves nothing
  half-written."""
  try:
    held = len(os.listdir("/proc/self/fd"))
  except OSError:
    held = _FILES_BESIDE
  need = held + n + 16
  soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
  if soft == resource.RLIM_INFINITY or soft >= need:
    return
  refusal = (f"{what}: {n} files open at once need about {need} descriptors; this "
             f"process may have {soft} (ulimit -n) and no more than "
             f"{'the system allows' if hard == resource.RLIM_INFINITY else hard} "
             "(ulimit -Hn): ask for fewer at a time, or raise the limit")
  if hard != resource.RLIM_INFINITY and hard < need:
    raise ValueError(refusal)
  try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
  except (ValueError, OSError) as e:  # macOS: above its OPEN_MAX despite an unlimited hard limit
    raise ValueError(f"{refusal} ({e})") from e
  logging.info("open files: soft limit raised from %d to %d for %s", soft, need, what)
