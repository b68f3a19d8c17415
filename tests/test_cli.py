"""One command-line convention for every entry point.

Each script parses absl flags through ``cli.parse_flags`` and runs through
``cli.absl_main``: an unknown flag and a stray positional argument are each
one ``error: ...`` line on stderr and exit code 2, never a traceback or
absl's usage dump. Each script runs as a user runs it (``python SCRIPT
ARGS``, its own ``app.run``; all in one child process, conftest.run_scripts)
with an unknown flag, its required flags given; the stray argument (the same
``cli.absl_main`` code everywhere) runs through train.py, and every other
script's call of it is read from its source. Nothing is trained or read:
the refusals come before any work.
"""
import errno
import io
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import NO_PREALLOC, REPO, load_config_file, run_scripts, subprocess_env
from samplernn_jax import cli, progress
from samplernn_jax import config as config_lib

# script -> the flags it requires (absl refuses their absence before main runs)
SCRIPTS = {
    "train.py": [],
    "sample.py": [],
    "evaluate.py": ["--data_dir=d", "--samples=s"],
    "scripts/score.py": [],
    "scripts/import_theano_params.py": [],
    "scripts/pack_folder.py": ["--src=s", "--out=o"],
    "scripts/pack_dcase2016.py": ["--src=s", "--out=o"],
    "scripts/make_default_data.py": ["--src=s"],
    "scripts/quality_sweep.py": [],
    "scripts/make_listening_page.py": [],
    "scripts/mutation_run.py": [],
    "benchmarks/train_speed.py": [],
    "benchmarks/sample_speed.py": [],
    "benchmarks/data_memory.py": [],
    "benchmarks/profile_table.py": [],
    "benchmarks/sampler_tables.py": [],
}
CASES = {"unknown_flag": (["--no_such_flag=1"], "error: Unknown command line flag 'no_such_flag'"),
         "stray_argument": (["stray"], "error: unexpected arguments ['stray']"),
         # only for the scripts with a default config (ml_collections reads its
         # overrides as the flag is defined, at import: cli.define_config)
         "unknown_config_key": (["--config.lerning_rate=0.1"],
                                "error: unknown config key 'lerning_rate' "
                                "(in --config.lerning_rate=0.1); did you mean 'learning_rate'?")}
CONFIG_SCRIPTS = ("train.py", "scripts/score.py")
# A stray argument is refused by cli.absl_main, the same code in every script:
# run for train.py here; the other scripts' wiring is read by
# test_every_entry_point_runs_through_absl_main_and_parse_flags.
KEYS = [(s, c) for s in SCRIPTS for c in CASES
        if (c != "unknown_config_key" or s in CONFIG_SCRIPTS)
        and (c != "stray_argument" or s == "train.py")]


@pytest.fixture(scope="module")
def results():
  """(script, case) -> (returncode, stderr), every script run in one child
  (conftest.run_scripts: each as ``python SCRIPT ARGS`` runs it)."""
  runs = [([script, *SCRIPTS[script], *CASES[case][0]], None, None) for script, case in KEYS]
  return {key: (p.returncode, p.stderr) for key, p in zip(KEYS, run_scripts(runs))}


@pytest.mark.parametrize("script, case", KEYS)
def test_bad_command_line_is_one_error_line_and_exit_2(results, script, case):
  """An unknown flag, a stray argument and (train.py, score.py, whose config
  flag has a default) a misspelt --config.KEY without --config: one error
  line naming it, exit 2. Rules out absl's usage dump, and the traceback
  ml_collections raised for the key at the script's import."""
  rc, stderr = results[script, case]
  errors = [l for l in stderr.splitlines() if l.startswith("error:")]
  assert rc == 2, stderr[-3000:]
  assert "Traceback" not in stderr and "flags:" not in stderr, stderr[-3000:]
  assert len(errors) == 1 and errors[0].startswith(CASES[case][1]), stderr[-3000:]


def test_absl_main_refuses_a_stray_argument_before_running(capsys):
  """``cli.absl_main(fn)`` given a positional argument: one ``error:`` line
  naming it, exit 2, and ``fn`` never runs, for one word or two. Rules out a
  stray word (a misspelt flag without its dashes) silently ignored by a run
  that goes on, and a count that lets one word through (``> 2``)."""
  ran = []
  with pytest.raises(SystemExit) as exit_:
    cli.absl_main(lambda: ran.append(1))(["prog", "stray", "more"])
  assert exit_.value.code == 2 and ran == []
  assert capsys.readouterr().err.splitlines() == [
      "error: unexpected arguments ['stray', 'more']: every input is a --flag (see --help)"]
  with pytest.raises(SystemExit) as exit_:  # one word: a flag that lost its dashes
    cli.absl_main(lambda: ran.append(1))(["prog", "max_steps=10"])
  assert exit_.value.code == 2 and ran == []
  assert capsys.readouterr().err.splitlines() == [
      "error: unexpected arguments ['max_steps=10']: every input is a --flag (see --help)"]
  cli.absl_main(lambda: ran.append(1))(["prog"])
  assert ran == [1]


def entry_points():
  """Every script of the repository that runs absl's ``app.run``."""
  paths = glob.glob(os.path.join(REPO, "*.py")) + glob.glob(os.path.join(REPO, "scripts", "*.py"))
  paths += glob.glob(os.path.join(REPO, "benchmarks", "*.py"))
  out = {}
  for p in sorted(paths):
    with open(p) as f:
      text = f.read()
    if "app.run(" in text:
      out[os.path.relpath(p, REPO)] = text
  return out


def test_every_entry_point_runs_through_absl_main_and_parse_flags():
  """Each script's one ``app.run`` call is ``app.run(cli.absl_main(<fn>),
  flags_parser=cli.parse_flags)`` (SCRIPTS, run as a user runs them above, and
  the three more whose subprocess would add nothing but time). Rules out a script that parses absl's own way (a usage dump for a bad
  flag) or calls its main directly (a stray argument ignored)."""
  found = entry_points()
  assert set(SCRIPTS) <= set(found)
  for path, text in found.items():
    calls = re.findall(r"app\.run\((.*)\)\s*$", text, re.MULTILINE)
    assert len(calls) == 1, (path, calls)
    assert re.fullmatch(r"cli\.absl_main\(\w+\), flags_parser=cli\.parse_flags", calls[0]), \
        (path, calls[0])


SHARE_THE_GPU = ("sample.py", "evaluate.py", "scripts/score.py")


@pytest.mark.parametrize("preset", [None, "true"])
def test_scripts_beside_training_take_gpu_memory_as_needed(preset):
  """sample.py, evaluate.py and score.py, loaded in a fresh Python (each
  alone), leave JAX's GPU memory to be taken as needed
  (XLA_PYTHON_CLIENT_PREALLOCATE=false, set before JAX starts a backend),
  and keep a value the user set. Rules out JAX's default there (75 % of the
  GPU reserved at start: the script fails for memory on the GPU a train.py
  holds), the setting made after a backend started (JAX reads it then), and
  one that overrides the user's."""
  env = {k: v for k, v in subprocess_env().items() if k != NO_PREALLOC}
  if preset:
    env[NO_PREALLOC] = preset
  code = ("import os, runpy, sys; sys.path.insert(0, 'scripts'); runpy.run_path(sys.argv[1]); "
          "from jax._src import xla_bridge; "
          f"print(os.environ.get({NO_PREALLOC!r}), bool(xla_bridge._backends))")
  for script in SHARE_THE_GPU:
    p = subprocess.run([sys.executable, "-c", code, script], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == [preset or "false", "False"], (script, p.stdout)


def test_a_known_error_shows_its_traceback_when_asked(monkeypatch, capsys):
  """SAMPLERNN_TRACEBACK=1: a bad setting (a ValueError from
  config.validate) still fails, now as the exception itself (its traceback,
  where it was raised), not the one line; unset or 0: the one line, exit 2.
  Rules out the variable being ignored, which leaves a ValueError inside a
  variant without a location. (``cli.run`` is what every entry point's
  ``absl_main`` calls: test_every_entry_point_runs_through_absl_main_and_parse_flags.)"""
  config = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  config.dim = 0
  for value in (None, "0"):
    if value is None:
      monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    else:
      monkeypatch.setenv(cli.TRACEBACK_ENV, value)
    with pytest.raises(SystemExit) as exit_:
      cli.run(lambda: config_lib.validate(config))
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("error: config.dim=0")
  monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
  with pytest.raises(ValueError, match="^config.dim=0") as err:
    cli.run(lambda: config_lib.validate(config))
  assert err.traceback[-1].path.name == "config.py"  # raised where the check is


def test_what_the_system_refuses_is_one_error_line(monkeypatch, capsys):
  """An OSError reaching an entry point (a full disk, no permission, a path
  under a plain file) is one ``error:`` line with the system's reason, exit
  2, as a library error is. Rules out a traceback for any OSError but the
  not-found and exists kinds (the library wraps those it expects; a
  background write or a variant's own file access can raise any other)."""
  monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
  for err in (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/full/disk"),
              PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/locked"),
              NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), "/file/x")):
    def fail(err=err):
      raise err
    with pytest.raises(SystemExit) as exit_:
      cli.run(fail)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {err}"]


@pytest.mark.parametrize("script", ["train.py", "scripts/score.py"])
def test_help_lists_the_config_flag(script):
  """``--help`` lists the flags of the script itself, --config among them.
  Rules out --config filed under samplernn_jax.cli (where cli.define_config
  defines it), which left it out of --help: only --helpfull showed the flag
  every example in the README passes; and absl's exit code 1 after a help
  that was asked for (a failure to a shell's &&)."""
  p = subprocess.run([sys.executable, script, "--help"], cwd=REPO, env=subprocess_env(),
                     capture_output=True, text=True, timeout=300)
  assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-3000:]
  own = p.stdout.split(f"{script.split('/')[-1]}:", 1)
  assert len(own) == 2 and "  --config:" in own[1], p.stdout[-3000:]
  assert "--config.KEY=VALUE" in own[1]  # how to set one key, said where --config is


def test_train_py_names_its_workdir_after_the_config(tmp_path):
  """Without --workdir, train.py trains into runs/<config file's name>
  (configs/tiny.py -> runs/tiny, relative to where it runs) and says so.
  Rules out the fixed runs/default, where a tiny run and the default run
  met in one folder (and the second was refused or resumed the first), and
  a message naming runs/tiny while the run goes elsewhere: runs/tiny is a
  plain file here, so only a run that uses it is refused for it."""
  (tmp_path / "runs").mkdir()
  (tmp_path / "runs" / "tiny").write_text("not a folder")
  p = subprocess.run([sys.executable, os.path.join(REPO, "train.py"), "--config",
                      os.path.join(REPO, "configs", "tiny.py"),
                      f"--config.data_dir={tmp_path / 'missing'}"],
                     cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True,
                     timeout=300)
  assert p.returncode == 2 and "error: workdir=runs/tiny is a file, not a folder" in p.stderr, \
      p.stderr[-3000:]
  assert "workdir runs/tiny (named after --config" in p.stdout
  assert cli.default_workdir("configs/default.py") == os.path.join("runs", "default")


# A config file's mistakes, each with the line the error line must give.
BAD_CONFIG_FILES = {
    "syntax": ("def get_config(:\n  pass\n", " line 1: SyntaxError: invalid syntax"),
    "import": ("import no_such_module_here\n", " line 1: ModuleNotFoundError: No module named"),
    "raises": ("def get_config():\n  return 1 / 0\n",
               " line 2: ZeroDivisionError: division by zero"),
    # raised in a module it calls: the line is the config file's call, not the library's
    "raises_in_callee": ("import fractions\n\ndef get_config():\n"
                         "  return fractions.Fraction(1, 0)\n",
                         " line 4: ZeroDivisionError: Fraction(1, 0)"),
    "wrong_type": ("from samplernn_jax.config import base_config\n\ndef get_config():\n"
                   "  c = base_config()\n  c.dim = 'big'\n  return c\n",
                   " line 5: TypeError: Could not override field 'dim'"),
    "plain_dict": ("def get_config():\n  return {'dim': 3}\n",
                   ": the config is a dict; expected the ConfigDict of base_config()"),
    "own_configdict": ("import ml_collections\n\ndef get_config():\n"
                       "  return ml_collections.ConfigDict({'dim': 3})\n",
                       ": the config lacks the keys balance_classes, batch_size"),
}


def train_py_runs(runs):
  """train.py given each (args, traceback) of ``runs``, in one child
  (conftest.run_scripts; not in this worker: sample.py, loaded here by other
  tests, defines --workdir too, and absl's flags are process-global);
  ``traceback``: with SAMPLERNN_TRACEBACK=1, else with it empty."""
  return run_scripts([(["train.py", *args], {cli.TRACEBACK_ENV: "1" if tb else ""}, None)
                      for args, tb in runs])


@pytest.fixture(scope="module")
def bad_config_runs(tmp_path_factory):
  """case -> (config path, workdir, returncode, stderr) of train.py given each
  of BAD_CONFIG_FILES (one with --config=FILE, the rest with --config FILE:
  both forms)."""
  root = tmp_path_factory.mktemp("bad_configs")
  runs = []
  for case in sorted(BAD_CONFIG_FILES):
    path = root / f"{case}.py"
    path.write_text(BAD_CONFIG_FILES[case][0])
    given = [f"--config={path}"] if case == "raises" else ["--config", str(path)]
    runs.append(([*given, "--workdir", str(root / f"run_{case}")], False))
  return {case: (root / f"{case}.py", root / f"run_{case}", p.returncode, p.stderr)
          for case, p in zip(sorted(BAD_CONFIG_FILES), train_py_runs(runs))}


@pytest.mark.parametrize("case", sorted(BAD_CONFIG_FILES))
def test_a_config_files_own_mistake_is_one_error_line_naming_its_line(bad_config_runs, case):
  """A --config file with a syntax error, a failed import, an exception in
  get_config(), a value of the wrong type, or a get_config() returning a
  dict or a ConfigDict of its own instead of base_config() changed: one
  ``error: --config FILE line N: ...`` line (the line where known), exit 2,
  before any work; an exception raised in a module the config calls gives
  the config file's line of the call. Rules out the tracebacks these gave
  (ml_collections' wrapped ones embedding a second traceback, and an
  AttributeError from deep inside config.py for the dicts), and the line of
  the traceback's last frame whatever its file."""
  path, workdir, rc, err = bad_config_runs[case]
  lines = [l for l in err.splitlines() if l.strip()]
  assert rc == 2 and len(lines) == 1, err[-3000:]
  assert lines[0].startswith(f"error: --config {path}{BAD_CONFIG_FILES[case][1]}"), lines[0]
  assert not workdir.exists()


def test_a_config_error_keeps_its_traceback_when_asked_and_names_an_imported_file(tmp_path):
  """A syntax error in a module the --config file imports is named with
  that module (its line is not the config file's); with SAMPLERNN_TRACEBACK
  set, a config file's exception, and the one ml_collections wraps with its
  trace, propagate as tracebacks instead of the one line. Rules out a line
  number pinned on the wrong file, and the traceback switch that the README
  promises ignored for config files."""
  (tmp_path / "broken_helper.py").write_text("x = 1\n\ny = (\n")
  cfg = tmp_path / "uses_helper.py"
  cfg.write_text("import sys\nsys.path.insert(0, %r)\nimport broken_helper\n" % str(tmp_path))
  runs = [(["--config", str(cfg), "--workdir", str(tmp_path / "run")], False)]
  raised = {"raises": "ZeroDivisionError: division by zero",
            "wrong_type": "Could not override field 'dim'"}
  for case in raised:
    path = tmp_path / f"{case}.py"
    path.write_text(BAD_CONFIG_FILES[case][0])
    runs.append((["--config", str(path), "--workdir", str(tmp_path / "run")], True))
  first, *traced = train_py_runs(runs)
  line = first.stderr.strip()
  assert first.returncode == 2 and line.startswith(
      f"error: --config {cfg} (importing {tmp_path / 'broken_helper.py'}) line 3: SyntaxError"), line
  for p, text in zip(traced, raised.values()):
    assert p.returncode == 1 and "Traceback (most recent call last)" in p.stderr, p.stderr[-3000:]
    assert text in p.stderr and not p.stderr.startswith("error:")


def test_import_theano_params_checks_its_config_file_as_train_py(tmp_path):
  """scripts/import_theano_params.py, the other entry point that takes a
  --config file: a get_config() returning a dict is one error line naming
  the file, exit 2. Rules out the traceback (AttributeError on n_classes)
  it printed, when only train.py checked its config."""
  cfg = tmp_path / "plain_dict.py"
  cfg.write_text(BAD_CONFIG_FILES["plain_dict"][0])
  p = subprocess.run([sys.executable, "scripts/import_theano_params.py", "--config", str(cfg),
                      "--src", str(tmp_path / "p.pkl"), "--workdir", str(tmp_path / "w")],
                     cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
  errors = [l for l in p.stderr.splitlines() if l.strip()]
  assert p.returncode == 2 and len(errors) == 1, p.stderr[-3000:]
  assert errors[0].startswith(f"error: --config {cfg}: the config is a dict"), errors[0]


def test_native_windows_is_told_to_use_wsl():
  """Importing the package where ``sys.platform`` is 'win32' raises an
  ImportError that names Linux, macOS and WSL2. Rules out the failure a
  Windows user met before: ``No module named 'fcntl'`` from deep inside
  the first module that locks a folder, naming no platform and no way out."""
  proc = subprocess.run([sys.executable, "-c", "import sys; sys.platform = 'win32'; "
                         "import samplernn_jax"], cwd=REPO, env=subprocess_env(),
                        capture_output=True, text=True, timeout=60)
  assert proc.returncode == 1
  assert ("ImportError: samplernn-jax runs on Linux and macOS" in proc.stderr
          and "run it under WSL2" in proc.stderr), proc.stderr[-1000:]


def _locked_config_errors() -> tuple[str, str]:
  """ml_collections' own texts for a missing key of a locked config: as read
  (AttributeError, with its suggestion) and as set (KeyError, naming the
  other fields)."""
  import ml_collections
  config = ml_collections.ConfigDict({"lr": 1, "batch_size": 2})
  config.lock()
  with pytest.raises(AttributeError) as read:
    getattr(config, "lrr")
  with pytest.raises(KeyError) as set_:
    config.update({"KeySize": 1})
  return str(read.value), str(set_.value)


def test_config_error_lines_name_the_key_where_it_was_set_and_the_file():
  """The one-line messages for a config that fails to load, from
  ml_collections' own texts: a misspelt key read ("Did you mean") names the
  key, the --config.KEY argument that set it and the suggestion; a key set
  in the file ("does not exist", a name holding "Key") names the key, not
  the first of the other fields; any other AttributeError is itself after
  ``--config PATH``, with the get_config() hint only where get_config is
  what is missing. Rules out the argument search starting past the first
  argument, the suggestion or the where-clause on the wrong branch, the key
  taken from the other fields' list or cut at the word Key inside it, and
  the path or hint on the wrong branch."""
  read, set_ = _locked_config_errors()
  tail = " Every key is listed in samplernn_jax/config.py base_config()"
  assert cli.attribute_error_message(read, ["train.py", "--config.lrr=1"]) == (
      "unknown config key 'lrr' (in --config.lrr=1); did you mean 'lr'?" + tail)
  assert cli.attribute_error_message(set_, ["train.py"]) == (
      "unknown config key 'KeySize' (set in the --config file)" + tail)
  missing = "module 'my_config' has no attribute 'get_config'"
  assert cli.attribute_error_message(missing, ["x.py", "--config", "my.py:arg"]) == (
      f"--config my.py: {missing} (a config file defines get_config())")
  other = "'NoneType' object has no attribute 'n_rnn'"
  assert cli.attribute_error_message(other, ["x.py"]) == f"--config: {other}"


class _Flag:
  def __init__(self, name, value):
    self.name, self.value = name, value


def test_numbers_reads_string_and_list_flags_and_names_the_kind_expected():
  """``cli.numbers``: a comma-separated string flag and an absl list flag
  give the same tuple; a value that is not a number is a ValueError naming
  the flag, its value and "ints" or "numbers" by the kind asked. Rules out
  a list flag's value turned into its repr and split, and the two words
  swapped."""
  assert cli.numbers(_Flag("batch_sizes", "1,16")) == (1, 16)
  assert cli.numbers(_Flag("batch_sizes", ["1", "16"])) == (1, 16)
  assert cli.numbers(_Flag("seconds", ["0.5", "2"]), float) == (0.5, 2.0)
  with pytest.raises(ValueError, match=r"^--batch_sizes '1,x': expected comma-separated ints$"):
    cli.numbers(_Flag("batch_sizes", ["1", "x"]))
  with pytest.raises(ValueError, match=r"^--seconds '0.5,a': expected comma-separated numbers$"):
    cli.numbers(_Flag("seconds", "0.5,a"), float)


def test_call_parses_the_argv_given_or_else_the_processs_own(monkeypatch):
  """``cli.call(fn, argv)`` parses ``argv`` (flags only) and, given none,
  the process's own arguments after the program name, then runs ``fn``.
  Rules out the two sources swapped, the first argument skipped, and an
  argument taken for the program name."""
  from absl import flags
  if "cli_test_n" not in flags.FLAGS:
    flags.DEFINE_integer("cli_test_n", 0, "a flag of this test only")
  seen = []
  monkeypatch.setattr(sys, "argv", ["prog"])
  cli.call(lambda: seen.append(flags.FLAGS.cli_test_n), ["--cli_test_n=3"])
  monkeypatch.setattr(sys, "argv", ["prog", "--cli_test_n=5"])
  cli.call(lambda: seen.append(flags.FLAGS.cli_test_n))
  assert seen == [3, 5]


@pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")  # ml_collections'
def test_the_default_config_loads_from_a_checkout_whose_path_holds_a_colon(tmp_path, monkeypatch):
  """train.py's default --config is an absolute path; ml_collections reads
  what follows its first ``:`` as get_config()'s argument, so in a checkout
  under ``runs:2026/`` that path names no file. ``cli.loadable_config_path``
  gives it relative to the working directory: it loads as the file itself.
  Rules out the absolute path kept, here or as train.py's flag default (the
  default config unreadable, train.py failing with no flag given: run here
  from such a checkout)."""
  from absl import flags
  from ml_collections import config_flags
  checkout = tmp_path / "runs:2026"
  (checkout / "configs").mkdir(parents=True)
  with open(os.path.join(REPO, "configs", "tiny.py"), encoding="utf-8") as f:
    (checkout / "configs" / "tiny.py").write_text(f.read(), encoding="utf-8")
  monkeypatch.chdir(checkout)
  path = cli.loadable_config_path(str(checkout / "configs" / "tiny.py"))
  assert ":" not in path
  assert cli.loadable_config_path("configs/tiny.py") == "configs/tiny.py"
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file("config", path, "", flag_values=fv, sys_argv=["prog"])
  fv(["prog"])
  assert fv.config.to_dict() == load_config_file(os.path.join(REPO, "configs", "tiny.py")).to_dict()
  # train.py in that checkout, no --config: its default loads (the data_dir error comes next)
  shutil.copy(os.path.join(REPO, "train.py"), checkout / "train.py")
  shutil.copytree(os.path.join(REPO, "configs"), checkout / "configs", dirs_exist_ok=True)
  (p,) = run_scripts([(["train.py", f"--config.data_dir={tmp_path / 'missing'}"], None, checkout)])
  assert p.returncode == 2 and "missing': no such folder" in p.stderr, p.stderr[-3000:]
  assert "workdir runs/default (named after --config" in p.stdout, p.stdout[-3000:]


class _Terminal(io.StringIO):
  def isatty(self):
    return True


def test_progress_bars_redraw_once_a_minute_into_a_log_file(tmp_path, monkeypatch):
  """``progress.bar`` (every bar of training, evaluation, sampling and
  packing): into a file (``train.py > log 2>&1``) it redraws at most once a
  minute; in a terminal as tqdm does (0.1 s); tqdm's TQDM_MININTERVAL, when
  set, chooses for both; a postfix set (the training bar's figure) waits
  for the next redraw. Rules out tqdm's ten redraws a second kept in a
  log (a run of days: millions of them), tqdm's redraw at every
  ``set_postfix`` (one a log step) and the user's own setting overridden."""
  monkeypatch.delenv("TQDM_MININTERVAL", raising=False)
  with open(tmp_path / "steps", "w") as log:  # the training bar's use: a figure every 50 steps
    b = progress.bar(total=1000, file=log)
    for step in range(1000):
      b.update(1)
      if step % 50 == 0:
        b.set_postfix(train_bits=f"{step:.3f}")
    b.close()
  with open(tmp_path / "steps", "rb") as f:  # binary: text mode reads each \r as \n
    assert f.read().count(b"\r") <= 3  # drawn at the start and the close only
  with open(tmp_path / "log", "w") as log:
    bars = [progress.bar(total=3, file=log), progress.bar(total=3, file=_Terminal())]
    assert [(b.mininterval, b.maxinterval) for b in bars] == [(60, 60), (0.1, 10)]
    monkeypatch.setenv("TQDM_MININTERVAL", "5")  # tqdm read it at import: left to tqdm
    bars += [progress.bar(total=3, file=log)]
    assert bars[-1].mininterval != 60
    for b in bars:
      b.close()
  for module in ("trainer.py", "cost.py", "sample_files.py", "packing.py"):  # every bar is one
    with open(os.path.join(REPO, "samplernn_jax", module), encoding="utf-8") as f:
      assert not re.search(r"\btqdm\(", f.read()), module
