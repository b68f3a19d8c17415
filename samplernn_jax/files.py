"""Writing a file so that a reader never sees half of it.

Every file the project writes whole (manifests, audio, reports, parameter
files, metrics.jsonl when a resume cuts it back) goes through
``atomic_write``: written under a temporary name in the same folder, then
renamed onto its path (``os.replace``, atomic on POSIX); on an error the
temporary file is removed and an existing file at ``path`` is left as it
was. Two kinds of file grow in place instead: ``metrics.jsonl`` gains one
flushed line a record, and ``sample.py --stream``'s WAVs a block at a time.
"""
from __future__ import annotations

import json
import os
from typing import Callable


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
