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
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from typing import Callable, Iterator

from absl import logging

# What a filesystem without locks answers flock with (NFS without lockd,
# Lustre without -o flock).
NO_LOCKS = (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP)


def not_a_folder(path: str) -> str:
  """Why ``path``, expected to be a folder, is not one: ``is a file, not a
  folder`` or ``no such folder`` (for the error that names it)."""
  return "is a file, not a folder" if os.path.exists(path) else "no such folder"


def atomic_write(path: str, write: Callable[[str], None]) -> None:
  """Calls ``write(tmp)`` then renames tmp onto ``path``.

  ``tmp`` keeps ``path``'s extension (soundfile and matplotlib choose the
  format by it unless told).
  """
  d, base = os.path.split(os.path.abspath(path))
  os.makedirs(d, exist_ok=True)
  tmp = os.path.join(d, f".{base}.tmp{os.getpid()}{os.path.splitext(base)[1]}")
  try:
    write(tmp)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_text(path: str, text: str) -> None:
  def w(tmp):
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(text)
  atomic_write(path, w)


def write_json(path: str, obj) -> None:
  write_text(path, json.dumps(obj, indent=1) + "\n")


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
