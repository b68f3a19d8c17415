"""Shared entry-point behaviour: known errors print one clear line, exit 2."""
from __future__ import annotations

import sys
from typing import Callable

from samplernn_jax.data import DataError


def known_errors() -> tuple[type, ...]:
  from samplernn_jax.trainer import TrainingError
  from samplernn_jax.theano_params import ImportError_
  from samplernn_jax.workdir import WorkdirError
  return (DataError, TrainingError, ImportError_, WorkdirError, ValueError,
          FileNotFoundError, FileExistsError)


def quiet_logs() -> None:
  """Library INFO logs (orbax, XLA backends) would bury the progress bar."""
  from absl import logging
  logging.set_verbosity(logging.WARNING)


def run(fn: Callable[[], object]) -> object:
  quiet_logs()
  try:
    return fn()
  except known_errors() as e:
    print(f"error: {e}", file=sys.stderr)
    raise SystemExit(2)
