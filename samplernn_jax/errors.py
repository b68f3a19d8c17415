"""The library's typed errors, in one module that imports nothing.

Each message names the file, key or setting at fault and what was expected,
so an entry point can print it as one line (``cli.run``: ``error: ...``,
exit code 2). Every class derives from ``Error`` (catch that for all of
them) and from the builtin that fits (``ValueError`` for bad input,
``RuntimeError`` for a run that cannot go on).
"""


class Error(Exception):
  """Base of samplernn_jax's own errors."""


class DataError(Error, ValueError):
  """Bad input data; the message names the file and what was expected."""


class ParamFormatError(Error, ValueError):
  """Parameters that do not fit the model the config builds: a file in the
  original's format, or a checkpoint of another model; names the file or
  checkpoint and the parameter."""


class LevelError(Error, ValueError):
  """A level setting that cannot be applied; the message names it."""


class EvalError(Error, ValueError):
  """Bad input to the evaluation; the message names the path or setting.

  ``setting``: the library's name of the setting at fault when the message
  starts with it (``classifier.epochs``), so that a script can say its own
  flag instead (evaluate.py's ``--epochs``); None for a file or folder."""

  def __init__(self, message: str = "", setting: str | None = None):
    super().__init__(message)
    self.setting = setting


class TrainingError(Error, RuntimeError):
  """The run cannot go on (non-finite loss, incompatible workdir...)."""


class WorkdirError(Error, RuntimeError):
  """The workdir cannot be used; the message says why and names it."""


class CheckpointReadError(Error, OSError):
  """A checkpoint that cannot be read (damaged, or removed while read by a
  run training in its workdir); names its folder."""
