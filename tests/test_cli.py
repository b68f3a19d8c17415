"""One command-line convention for every entry point (issue 16, item 2).

Each script parses absl flags through ``cli.parse_flags`` and runs through
``cli.absl_main``: an unknown flag and a stray positional argument are each
one ``error: ...`` line on stderr and exit code 2, never a traceback or
absl's usage dump. Each script runs as a user runs it (a subprocess), with
its required flags given so that the stray argument is what it refuses.
Nothing is trained or read: both refusals come before any work.
"""
import concurrent.futures
import subprocess
import sys

import pytest

from conftest import REPO, subprocess_env

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
KEYS = [(s, c) for s in SCRIPTS for c in CASES if c != "unknown_config_key" or s in CONFIG_SCRIPTS]


@pytest.fixture(scope="module")
def results():
  """(script, case) -> (returncode, stderr), two scripts at a time."""
  def run(key):
    script, case = key
    args = SCRIPTS[script] + CASES[case][0]
    p = subprocess.run([sys.executable, script, *args], cwd=REPO, env=subprocess_env(),
                       capture_output=True, text=True, timeout=300)
    return p.returncode, p.stderr
  with concurrent.futures.ThreadPoolExecutor(2) as pool:
    return dict(zip(KEYS, pool.map(run, KEYS)))


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


def test_a_known_error_shows_its_traceback_when_asked():
  """SAMPLERNN_TRACEBACK=1: a bad setting (a ValueError from
  config.validate) still fails, now with its traceback (where it was
  raised), not the one line. Rules out the variable being ignored, which
  leaves a ValueError inside a variant without a location."""
  args = [sys.executable, "train.py", "--config", "configs/tiny.py", "--config.dim=0",
          "--workdir", "/nonexistent/never"]
  plain = subprocess.run(args, cwd=REPO, env=subprocess_env(), capture_output=True, text=True,
                         timeout=300)
  assert plain.returncode == 2 and "Traceback" not in plain.stderr, plain.stderr
  assert "error: config.dim=0" in plain.stderr, plain.stderr
  env = dict(subprocess_env(), SAMPLERNN_TRACEBACK="1")
  traced = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert traced.returncode != 0 and "Traceback" in traced.stderr, traced.stderr
  assert "config.py" in traced.stderr and "ValueError: config.dim=0" in traced.stderr


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
