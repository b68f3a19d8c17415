"""Shared entry-point behaviour: known errors print one clear line, exit 2."""
from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from typing import Callable

from absl import flags, logging
from ml_collections import config_flags

from samplernn_jax import errors, signals

# What an entry point turns into ``error: <message>`` and exit code 2: the
# library's typed errors, the builtins it raises for a bad setting or path,
# and OSError for what the system refuses (an --out under a file, a full
# disk, no permission), whose message names the path.
KNOWN_ERRORS = (errors.Error, ValueError, OSError)

# ``define_config`` defines the entry points' --config flag from here; absl
# would file it under this module, and ``--help`` (which lists the main
# module's flags) would leave out the flag every entry point turns on. So
# this module disclaims its flag calls, and define_config declares the flag
# a key flag of the module that called it.
flags.disclaim_key_flags()


def share_the_gpu() -> None:
  """GPU memory as needed instead of JAX's 75 % of each GPU reserved at its
  start, for the scripts that run beside a training run (sample.py,
  evaluate.py, score.py): with the default, one of them on the GPU a
  train.py holds fails for memory. Call before JAX starts; a value the user
  set (``XLA_PYTHON_CLIENT_PREALLOCATE=true``) is kept."""
  os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def quiet_logs() -> None:
  """Library INFO logs (orbax, XLA backends) would bury the progress bar."""
  logging.set_verbosity(logging.WARNING)


# Set (to anything but '' or 0) to see the traceback of a known error too,
# e.g. a ValueError raised deep inside a variant being developed.
TRACEBACK_ENV = "SAMPLERNN_TRACEBACK"


def run(fn: Callable[[], object]) -> object:
  """``fn()`` as a script runs it: quiet logs, a second Ctrl-C ends the
  process (``signals.quitting_the_process``), a known error one ``error:``
  line and ``SystemExit(2)``."""
  quiet_logs()
  try:
    with signals.quitting_the_process():
      return fn()
  except KNOWN_ERRORS as e:
    if _traceback_asked():
      raise
    print(f"error: {e}", file=sys.stderr)
    raise SystemExit(2)


def absl_main(fn: Callable[[], object]) -> Callable[[list[str]], None]:
  """The ``main(argv)`` of an absl script: stray arguments are an error
  (``error: ...``, exit code 2), then ``run(fn)``. What ``fn`` returns is
  dropped (app.run would exit with it). Use as
  ``app.run(absl_main(_run), flags_parser=parse_flags)``."""
  def main(argv: list[str]) -> None:
    if len(argv) > 1:
      print(f"error: unexpected arguments {argv[1:]}: every input is a --flag "
            "(see --help)", file=sys.stderr)
      raise SystemExit(2)
    run(fn)
  return main


def call(fn: Callable[[], object], argv: list[str] | None = None) -> None:
  """An absl script run in this process, as ``script.py *argv`` would run it.

  absl's flags are process-global: every call resets them to their defaults,
  then parses ``argv`` (flags only, no program name; default sys.argv[1:])
  and runs ``fn`` as ``absl_main`` does. A script's ``main(argv)`` for tests.
  As in the script, absl's log verbosity becomes WARNING for the rest of the
  process, and a known error is one printed line and ``SystemExit(2)``.
  """
  flags.FLAGS.unparse_flags()
  args = sys.argv[1:] if argv is None else [str(a) for a in argv]
  absl_main(fn)(parse_flags([sys.argv[0], *args]))


# absl's help flags: each prints its text and exits (with 1; a help asked
# for is a success here, so that `train.py --help && ...` goes on).
HELP_FLAGS = ("--help", "--helpfull", "--helpshort", "--helpxml", "-?")


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing with one clear line for a bad flag or config key.

  ml_collections raises AttributeError deep in its parser for an unknown
  ``--config.KEY``; this turns that (and absl's own flag errors) into
  ``error: ...`` and exit code 2. Pass as ``app.run(main, flags_parser=...)``.
  """
  # -h asked for help under argparse, which the scripts used before absl.
  argv = argv[:1] + ["--help" if a == "-h" else a for a in argv[1:]]
  try:
    return flags.FLAGS(argv)
  except SystemExit as e:  # absl prints the help asked for, then exits 1
    asked = any(a.split("=")[0] in HELP_FLAGS for a in argv[1:])
    raise SystemExit(0 if asked and e.code == 1 else e.code) from None
  except AttributeError as e:
    print(f"error: {attribute_error_message(str(e), argv)}", file=sys.stderr)
  except (flags.Error, ValueError, TypeError) as e:
    text = str(e)
    if CONFIG_TRACE in text and _traceback_asked():
      raise
    print(f"error: {config_file_error(e, argv) if CONFIG_TRACE in text else text}",
          file=sys.stderr)
  except Exception as e:  # noqa: BLE001 - raised by a --config file's own code as it ran
    if _traceback_asked():
      raise
    print(f"error: {config_file_error(e, argv)}", file=sys.stderr)
  raise SystemExit(2)


def _traceback_asked() -> bool:
  return os.environ.get(TRACEBACK_ENV, "") not in ("", "0")


# ml_collections' wrapping of a TypeError or ValueError raised while a config
# file ran: the message embeds the whole traceback.
CONFIG_TRACE = "Error whilst parsing config file"


def _config_file(argv: list[str]) -> str | None:
  """The last --config file of ``argv`` (without a ``:argument``), or None."""
  files = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")]
  files += [b for a, b in zip(argv[1:], argv[2:]) if a == "--config"]
  return files[-1].split(":", 1)[0] if files else None


def config_file_error(e: BaseException, argv: list[str]) -> str:
  """An error raised while a --config file ran, in one line: the file, the
  line of it that raised (when known) and the error itself, instead of a
  traceback (a syntax error, a failed import, an exception in get_config,
  or ml_collections' message that embeds one)."""
  path = _config_file(argv)
  text, line = str(e), None
  if isinstance(e, SyntaxError):  # in the file, or in a module it imports: name that one
    text, line = e.msg, e.lineno
    if e.filename and path and os.path.abspath(e.filename) != os.path.abspath(path):
      path = f"{path} (importing {e.filename})"
  elif CONFIG_TRACE in text:
    lines = [t.strip() for t in text.splitlines() if t.strip()]
    text = lines[-1]
    if path:
      found = re.findall(rf'File "{re.escape(os.path.abspath(path))}", line (\d+)', str(e))
      line = int(found[-1]) if found else None
  elif path:
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if os.path.abspath(f.filename) == os.path.abspath(path)]
    line = frames[-1].lineno if frames else None
  if not re.match(r"[A-Za-z_.]*(Error|Exception|Warning): ", text):
    text = f"{type(e).__name__}: {text}"
  where = f"--config {path}" if path else "--config"
  return f"{where}{f' line {line}' if line else ''}: {text}"


def define_config(define: Callable, *args, **kwargs):
  """``define(*args, **kwargs)`` (``config_flags.DEFINE_config_file`` or
  ``DEFINE_config_dict``) with an unknown ``--config.KEY`` as one error line.

  With a default config, ml_collections reads the command line's overrides
  while the flag is defined, at the script's import, before ``parse_flags``
  runs: a misspelt key raised its AttributeError there, as a traceback.
  """
  try:
    holder = define(*args, **kwargs)
  except AttributeError as e:
    print(f"error: {attribute_error_message(str(e), sys.argv)}", file=sys.stderr)
    raise SystemExit(2)
  flags.declare_key_flag(holder.name)  # listed by the calling script's --help
  return holder


def attribute_error_message(text: str, argv: list[str]) -> str:
  """An AttributeError met while the config loads, in one line: a key the
  config lacks (ml_collections' missing-key messages: the quoted key alone,
  'does not exist' or 'Did you mean') as ``unknown_key_message``; anything
  else (a file without get_config(), an error inside it) as itself, with
  the file."""
  bare = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", text.strip("\"'\\"))
  if bare or "does not exist" in text or "Did you mean" in text:
    return unknown_key_message(text, argv)
  path = _config_file(argv)
  where = f"--config {path}" if path else "--config"
  hint = " (a config file defines get_config())" if "get_config" in text else ""
  return f"{where}: {text}{hint}"


def unknown_key_message(text: str, argv: list[str]) -> str:
  """ml_collections' AttributeError for a key a (locked) config lacks, in one
  line: the key, where it was set, ml_collections' suggestion."""
  names = re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", text.split("Other fields")[0]
                     .replace("Key", " ", 1).replace("does not exist", " "))
  key = names[0] if names else text
  bad = [a for a in argv[1:] if a.startswith("--config.")]
  where = f"in {' '.join(bad)}" if bad else "set in the --config file"
  hint = re.search(r'Did you mean "([A-Za-z0-9_.]+)"', text)
  hint = f"; did you mean {hint.group(1)!r}?" if hint else ""
  return (f"unknown config key {key!r} ({where}){hint} Every key is listed in "
          "samplernn_jax/config.py base_config()")


def numbers(flag, kind: type = int) -> tuple:
  """The values of a comma-separated flag (a string or an absl list flag)
  as ``kind`` (int or float); a ValueError naming the flag otherwise."""
  values = flag.value if isinstance(flag.value, list) else str(flag.value).split(",")
  try:
    return tuple(kind(v) for v in values)
  except ValueError:
    what = "ints" if kind is int else "numbers"
    raise ValueError(f"--{flag.name} {','.join(values)!r}: expected comma-separated "
                     f"{what}") from None


def loadable_config_path(path: str) -> str:
  """``path`` as ml_collections' config flag can load it. It reads what
  follows the first ``:`` as an argument for ``get_config()``, so the
  absolute path of a checkout whose folders hold ``:`` (``~/runs:2026/...``)
  is given relative to the working directory instead, where that holds none."""
  if ":" not in path:
    return path
  relative = os.path.relpath(path)
  return relative if ":" not in relative else path


def default_workdir(config_file: str) -> str:
  """train.py's workdir when none is given: ``runs/<config file's name>``
  (``configs/tiny.py`` -> ``runs/tiny``), so that runs of two configs do not
  meet in one folder."""
  return os.path.join("runs", os.path.splitext(os.path.basename(config_file))[0])


def config_value(flag, check: Callable[[object], None] | None = None):
  """The ConfigDict of a ``DEFINE_config_file`` flag; exit 2 if it did not
  load, or if ``check(config)`` (``config.check_complete``: passed in, so
  that the scripts that never build a model do not import JAX through
  here) raises a ValueError."""
  try:
    config = flag.value
    if hasattr(config, "keys"):
      config.keys()  # the flag loads lazily: touch it
  except OSError as e:
    first = str(e).strip().splitlines()
    print(f"error: --config: {first[-1].strip() if first else e}", file=sys.stderr)
    raise SystemExit(2)
  try:
    if check is not None:
      check(config)
  except ValueError as e:
    path = config_flags.get_config_filename(flags.FLAGS[flag.name])
    print(f"error: --config {path}: {e}", file=sys.stderr)
    raise SystemExit(2)
  return config


MODEL_CLS_HELP = ("the model class that trained the checkpoint, as module:Class (e.g. "
                  "my_variants:Deeper, a SampleRNN subclass; the module is imported from "
                  "the current folder or PYTHONPATH); default: the library's SampleRNN")


def model_class(spec: str | None, default: type) -> type:
  """``--model_cls module:Class`` -> the class (``default`` when not given;
  the class must derive from it). The current folder is searched first, as
  ``python -m`` would."""
  if not spec:
    return default
  module, sep, name = spec.rpartition(":")
  if not sep or not module or not name:
    raise ValueError(f"--model_cls={spec!r}: expected module:Class, e.g. my_variants:Deeper")
  sys.path.insert(0, os.getcwd())  # for this import only: no shadowing later ones
  try:
    mod = importlib.import_module(module)
  except ImportError as e:
    raise ValueError(f"--model_cls={spec!r}: cannot import {module!r} ({e})") from e
  finally:
    sys.path.remove(os.getcwd())
  cls = mod
  for part in name.split("."):  # a nested class: Outer.Inner
    cls = getattr(cls, part, None)
    if cls is None:
      raise ValueError(f"--model_cls={spec!r}: module {module!r} defines no {name!r}")
  if not (isinstance(cls, type) and issubclass(cls, default)):
    raise ValueError(f"--model_cls={spec!r}: {name!r} is not a class deriving from "
                     f"{default.__qualname__}; expected {default.__qualname__} or a subclass")
  return cls
