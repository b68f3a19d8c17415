"""scripts/mutation_run.py's table stays runnable as the code changes; the sweep's mutants.

A mutant names the text it replaces; when that text is rewritten, the run
reports an error for it instead of a result, and a test it names that was
renamed makes pytest fail on a missing test, which counts as a kill. Both
happened (2026-12-01: ``stale_clips_kept`` named a loop a review had
rewritten). Read with ``ast`` (the script defines absl flags at import).
"""
import ast
import os

from conftest import REPO


def _literals():
  """MUTANTS, TESTS and MODULE_FILES of scripts/mutation_run.py, as literals."""
  with open(os.path.join(REPO, "scripts", "mutation_run.py")) as f:
    tree = ast.parse(f.read())
  found = {}
  for node in tree.body:
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
      if node.targets[0].id in ("MUTANTS", "TESTS", "MODULE_FILES"):
        found[node.targets[0].id] = ast.literal_eval(node.value)
  return found


def _tables():
  """(MUTANTS, TESTS) of scripts/mutation_run.py."""
  found = _literals()
  return found["MUTANTS"], found["TESTS"]


def module_file(module: str, module_files: dict) -> str:
  """A TESTS key's file, as the script maps it: the package's modules, and
  the entry points of ``module_files`` (its MODULE_FILES)."""
  return module_files.get(module, os.path.join("samplernn_jax", module + ".py"))


def test_every_mutants_text_occurs_once_in_its_module():
  """Each mutant's original text occurs exactly once in its module (the
  script refuses anything else), its module names tests to run, and the
  mutated module is still valid Python. Rules out a table pointing at code
  that was rewritten or moved, and a mutant that is a syntax error (every
  test of its module then errors at import: counted as a kill, it tests
  nothing; seen on 2026-12-01 before it was fixed)."""
  mutants, tests = _tables()
  files = _literals()["MODULE_FILES"]
  assert len(mutants) > 100
  wrong = {}
  for name, (module, old, new) in mutants.items():
    with open(os.path.join(REPO, module_file(module, files))) as f:
      text = f.read()
    count = text.count(old)
    try:
      ast.parse(text.replace(old, new))
      parses = True
    except SyntaxError:
      parses = False
    if count != 1 or old == new or module not in tests or not parses:
      wrong[name] = (module, count, parses)
  assert not wrong, wrong


def test_no_mutant_or_module_is_named_twice():
  """MUTANTS' and TESTS' literals name each key once. Python keeps the last
  of two equal keys in a dict literal without a word, so a new mutant given
  an older one's name replaced it: the older mutant was no longer run, and
  its row reported the new one's mistake (seen on 2026-12-03). Rules out a
  table that loses a mutant to a name given twice."""
  with open(os.path.join(REPO, "scripts", "mutation_run.py")) as f:
    tree = ast.parse(f.read())
  twice = {}
  for node in tree.body:
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and \
        node.targets[0].id in ("MUTANTS", "TESTS"):
      keys = [k.value for k in node.value.keys]
      twice[node.targets[0].id] = sorted({k for k in keys if keys.count(k) > 1})
      assert len(keys) > 10
  assert twice == {"MUTANTS": [], "TESTS": []}


def test_every_named_test_exists():
  """Every file and ``file::test`` the table runs exists (a test function of
  that name, ``test...`` as pytest collects, is defined in that file). Rules
  out a renamed test, or a helper of the file named instead of a test, that
  pytest reports as not found, an error the run counts as a killed mutant."""
  _, tests = _tables()
  missing = []
  for paths in tests.values():
    for path in paths:
      file, _, test = path.partition("::")
      full = os.path.join(REPO, file)
      if not os.path.isfile(full):
        missing.append(path)
        continue
      if test:
        with open(full) as f:
          names = {n.name for n in ast.parse(f.read()).body
                   if isinstance(n, ast.FunctionDef) and n.name.startswith("test")}
        if test not in names:
          missing.append(path)
  assert not missing, missing


SWEEP_SRC = '''"""Module doc, 1 < 2."""
def f(x, y):
  """Doc."""
  if x < y and not y:
    raise ValueError(f"x={x + 1}")
  return -x * 2.5 if y else x == 0
'''

SWEEP_CHILD = r"""
import dataclasses, json, runpy, sys
sweep = runpy.run_path("scripts/mutation_sweep.py", run_name="sweep")
print(json.dumps([dataclasses.asdict(m) for m in sweep["mutants"](sys.argv[1])]))
"""


def test_mutation_sweep_makes_each_mutant_and_leaves_messages_alone():
  """scripts/mutation_sweep.py's mutants of a small function: each
  comparison, operator, boolean, negation, number and conditional changed
  once, in source order, and nothing in a docstring or in a raised error's
  message (there a mutant changes only the text an error prints). Rules out
  a sweep that mutates messages (survivors that mean nothing), skips a kind
  of node, or replaces text at the wrong offsets."""
  import json
  import subprocess
  import sys
  from conftest import subprocess_env
  p = subprocess.run([sys.executable, "-c", SWEEP_CHILD, SWEEP_SRC], cwd=REPO,
                     env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert p.returncode == 0, p.stderr[-3000:]
  got = [(m["old"], m["new"]) for m in json.loads(p.stdout)]
  assert got == [  # by where each starts, the shorter first
      ("x < y", "(x <= y)"), ("x < y and not y", "(x < y or not y)"), ("not y", "(y)"),
      ("-x", "(x)"), ("-x * 2.5", "(-x / 2.5)"),
      ("-x * 2.5 if y else x == 0", "(x == 0 if y else -x * 2.5)"),
      ("2.5", "(5.0)"), ("x == 0", "(x != 0)"), ("0", "(1)")]
  for m in json.loads(p.stdout):
    assert SWEEP_SRC[m["start"]:m["end"]] == m["old"]


def test_the_readme_table_lists_each_mutant_once_and_counts_them():
  """tests/README.md's table of the last results: one row per mutant of
  MUTANTS (none missing, none left over from a removed mutant, none twice),
  each row's module the mutant's, and the count line's figures the rows':
  every mutant, each row's pytest line a kill (a failure, an error or a
  timeout, as scripts/mutation_run.py counts them). Rules out a mutant added
  to the script but never run and reported, a row kept for a mutant that no
  longer exists, and a score line left at an older count, or at all killed
  beside a row whose run passed (a survivor)."""
  import re
  mutants, _ = _tables()
  with open(os.path.join(REPO, "tests", "README.md"), encoding="utf-8") as f:
    text = f.read()
  rows = re.findall(r"^\| `(\w+)` \| .* \| ([\w/]+)\.py[^|]* \| ([^|]+) \| \d+ \|$", text,
                    flags=re.M)
  names = [n for n, _, _ in rows]
  assert sorted(set(names)) == sorted(names), [n for n in set(names) if names.count(n) > 1]
  assert sorted(names) == sorted(mutants), (sorted(set(mutants) - set(names)),
                                            sorted(set(names) - set(mutants)))
  files = _literals()["MODULE_FILES"]
  package = "samplernn_jax/"
  shown = {n: module_file(mutants[n][0], files).replace(os.sep, "/").removeprefix(package)
           for n, _, _ in rows}  # the package's modules by their path in it, others in the repo
  assert [m for n, m, _ in rows if f"{m}.py" != shown[n]] == []
  # pytest's last line of a kill: a failure or an error; "timeout" past --timeout
  killed = [n for n, _, line in rows if re.search(r"\d+ (failed|errors?)\b|^timeout$", line)]
  count = re.search(r"^\*\*(\d+) of (\d+) mutants killed", text, flags=re.M)
  assert count and int(count.group(1)) == int(count.group(2)) == len(mutants)
  assert len(killed) == int(count.group(1)), sorted(set(names) - set(killed))
