"""The GPU benchmark scripts' command lines, checked without a GPU.

A lent GPU comes for about fifteen minutes, start-up included, and
`benchmarks/gpu_*.sh` spend it in one call: a misspelt flag or a value a
flag refuses would cost its row and the minutes before anyone sees it. Here
every Python command of those scripts has its flags parsed by the script's
own parser, in one child process, with the script's ``main`` replaced by a
check of the values it would read (config names, integer lists). Nothing
is compiled or run.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

from conftest import REPO, subprocess_env

SCRIPTS = ("gpu_suite.sh", "gpu_suite_more.sh", "gpu_h100_check.sh", "gpu_train_run.sh")


def expand(word: str, defaults: dict) -> str:
  """A shell word with ``${X:-d}`` and ``$X`` taken as the script's defaults."""
  word = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: defaults.get(m.group(1), m.group(2)), word)
  return re.sub(r"\$(\w+)", lambda m: defaults.get(m.group(1), "/tmp/out"), word)


def commands(path: str) -> list[list[str]]:
  """Every ``run NAME $B/script.py ARGS`` and ``python3 train.py ARGS`` of a
  script: [script path, args...], continuation lines joined."""
  text = open(path).read().replace("\\\n", " ")
  defaults = {m.group(1): m.group(2) for m in re.finditer(r"(\w+)=\$\{\w+:-([^}]*)\}", text)}
  defaults["B"] = "benchmarks"
  found = []
  for line in text.splitlines():
    line = line.split(" #")[0].strip()
    if line.startswith("#"):
      continue
    words = shlex.split(line.split(">")[0])
    if "run" in words and words.index("run") + 2 < len(words):
      i = words.index("run")
      found.append([expand(w, defaults) for w in words[i + 2:]])
    elif "python3" in words and words[words.index("python3") + 1].endswith(".py"):
      found.append([expand(w, defaults) for w in words[words.index("python3") + 1:]])
  return found


# Runs in the child: each command's flags through the script's own parser.
CHILD = r"""
import io, json, os, runpy, sys
from absl import app, flags
sys.path.insert(0, "benchmarks")
import common

def check(flag_values):
  problems = []
  names = flag_values.get("configs") or ""
  for name in names.split(","):
    if name and name not in common.CONFIGS and not os.path.exists(name):
      problems.append(f"--configs {name}: not a config name or file")
  for key in ("batches", "batch_sizes"):
    for part in str(flag_values.get(key) or "").split(","):
      if part and not part.isdigit():
        problems.append(f"--{key} {part}: not an integer")
  return problems

def fake_run(main, argv=None, flags_parser=None):
  flags_parser(sys.argv)
  raise SystemExit("; ".join(check({n: flags.FLAGS[n].value for n in flags.FLAGS})) or 0)

app.run = fake_run
for cmd in json.loads(sys.argv[1]):
  before = set(flags.FLAGS)
  sys.argv, err, code = list(cmd), io.StringIO(), None
  stderr, sys.stderr = sys.stderr, err
  try:
    runpy.run_path(cmd[0], run_name="__main__")
  except SystemExit as e:
    code = e.code
  finally:
    sys.stderr = stderr
  for name in set(flags.FLAGS) - before:  # the next script defines its own
    delattr(flags.FLAGS, name)
  print(json.dumps({"cmd": " ".join(cmd), "exit": code, "stderr": err.getvalue()[-500:]}))
"""


def parse_in_child(cmds):
  """(exit code of the child, one row per command) of CHILD run over cmds."""
  p = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cmds)], cwd=REPO,
                     env=subprocess_env(), capture_output=True, text=True, timeout=300)
  rows = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
  return p, rows


def test_every_gpu_script_command_parses():
  """Each command line of the GPU scripts parses, names known configs and
  gives integer lists where integers are read. Rules out a renamed or
  misspelt flag (e.g. --rnn_kernels), a choice the flag no longer offers
  (--sample_l1 table_pallass) and a config name train_speed.py cannot find,
  all of which would end their row on the GPU."""
  cmds = [c for s in SCRIPTS for c in commands(os.path.join(REPO, "benchmarks", s))]
  assert len(cmds) >= 20, cmds  # every script's commands were found
  scripts = {os.path.basename(c[0]) for c in cmds}
  assert {"train_speed.py", "sample_speed.py", "train.py", "profile_table.py"} <= scripts
  p, rows = parse_in_child(cmds)
  assert p.returncode == 0, p.stderr[-3000:]
  assert len(rows) == len(cmds), p.stdout[-3000:] + p.stderr[-3000:]
  bad = [r for r in rows if r["exit"] != 0]  # None: the script never reached app.run
  assert not bad, bad


def test_the_check_refuses_a_misspelt_flag_and_config():
  """The same check on a misspelt flag, a refused choice and an unknown
  config name fails each. Rules out a check that passes whatever it is
  given (a parser never reached, flags left from an earlier script)."""
  cmds = [["benchmarks/train_speed.py", "--configs", "paper", "--rnn_kernels", "xla"],
          ["benchmarks/train_speed.py", "--configs", "paper", "--sample_l1", "table_pallass"],
          ["benchmarks/sample_speed.py", "--configs", "papr", "--batches", "1"],
          ["benchmarks/sample_speed.py", "--configs", "paper", "--batches", "1,x"],
          ["benchmarks/sample_speed.py", "--configs", "paper", "--batches", "1"]]
  _, rows = parse_in_child(cmds)
  assert [r["exit"] == 0 for r in rows] == [False, False, False, False, True], rows
  assert "rnn_kernels" in rows[0]["stderr"] and "table_pallass" in rows[1]["stderr"], rows
  assert "papr" in str(rows[2]["exit"]) and "x: not an integer" in str(rows[3]["exit"]), rows


# What the project's lent-GPU tool brings back from $OUT: at most 8 files,
# none deeper than $OUT/a/b/file (benchmarks/README.md, "Running on a lent GPU").
MAX_FILES_BACK = 8


def files_written(path: str) -> set[str]:
  """The files a GPU script leaves in OUT_DIR: NAME.jsonl of every ``run
  NAME``, the files its lines redirect into "$OUT_DIR/...", and gpu_env.sh's
  device.txt and stderr.log."""
  text = open(path).read().replace("\\\n", " ")
  code = "\n".join(l for l in text.splitlines() if not l.strip().startswith("#"))
  names = {f"{m.group(1)}.jsonl" for m in re.finditer(r"(?:^|\s)run (\w+) ", code, re.M)}
  names |= set(re.findall(r'"\$OUT_DIR/([\w.]+)"', code))
  return names | {"device.txt", "stderr.log"}


def test_gpu_scripts_leave_what_the_device_tool_brings_back():
  """Each GPU script writes at most 8 files into OUT_DIR and nothing into
  folders under it: its files there come from the shell's redirections
  (counted here), and no Python command is given a path under OUT_DIR (a
  profiler trace goes to /tmp, its table to a row; a training run's workdir
  to /tmp). Rules out the suite as it was: 9 files and two trace folders
  (plugins/profile/<run>/...) under $OUT, so that one file of rows and both
  traces stayed on the lent machine, or nothing came back at all; and any
  command's own folder of outputs (a trace, a workdir's checkpoints) there."""
  for script in SCRIPTS:
    path = os.path.join(REPO, "benchmarks", script)
    written = files_written(path)
    assert len(written) <= MAX_FILES_BACK, (script, sorted(written))
    for cmd in commands(path):
      assert not [w for w in cmd if "/tmp/out" in w], (script, cmd)  # $OUT_DIR expanded
  assert files_written(os.path.join(REPO, "benchmarks", "gpu_suite.sh")) >= {
      "train.jsonl", "sample.jsonl", "profiled.jsonl", "profile.jsonl"}


def test_gpu_env_installs_wheel_by_wheel_and_stops_when_jax_cannot_use_the_gpu(tmp_path):
  """benchmarks/gpu_env.sh (sourced by every GPU script) installs .whl/ one
  wheel at a time, ml_collections first, so a wheel for another Python is
  logged and skipped instead of leaving ml_collections out with it (pip
  installs a list all or nothing): of two wheels that fail (empty files),
  each is tried and logged, ml_collections' first; stops at once with one
  line when JAX runs on the CPU unless told to (JAX_PLATFORMS=cpu), so that
  on a machine whose GPU does not start (here: none) JAX's fall-back to the
  CPU does not run every command until its limit; and writes the commit it
  was given to device.txt. Rules out the silent CPU fall-back that would
  spend a whole lent GPU's call, the all-or-nothing install, a loop that
  stops at the first wheel that fails (the wheels after it never tried) and
  ml_collections installed after the others (plain ls order)."""
  shutil.copytree(os.path.join(REPO, "benchmarks"), tmp_path / "benchmarks")
  (tmp_path / ".whl").mkdir()
  (tmp_path / ".whl" / "cffi-9.9-cp313-cp313-manylinux_2_28_x86_64.whl").write_bytes(b"")
  (tmp_path / ".whl" / "ml_collections-9.9-py3-none-any.whl").write_bytes(b"")
  env = {k: v for k, v in subprocess_env().items() if k != "JAX_PLATFORMS"}
  env["GIT_HEAD"] = "abc1234"
  script = "source benchmarks/gpu_env.sh out && echo sourced"
  p = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                     text=True, timeout=300)
  log = (tmp_path / "out" / "stderr.log").read_text()
  assert p.returncode == 1 and "sourced" not in p.stdout, p.stdout + p.stderr
  tried = [l for l in log.splitlines() if l.startswith("# could not install")]
  assert tried == ["# could not install .whl/ml_collections-9.9-py3-none-any.whl",
                   "# could not install .whl/cffi-9.9-cp313-cp313-manylinux_2_28_x86_64.whl"], log
  assert "error: JAX did not start on the GPU" in log
  assert "JAX fell back to the CPU" in (tmp_path / "out" / "device.txt").read_text()
  env["JAX_PLATFORMS"] = "cpu"  # told otherwise: a dry run on this machine
  p = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                     text=True, timeout=300)
  assert p.returncode == 0 and "sourced" in p.stdout, p.stdout + p.stderr
  device = (tmp_path / "out" / "device.txt").read_text()
  assert device.startswith("commit abc1234\n") and "jax " in device
