"""scripts/mutation_run.py's table stays runnable as the code changes.

A mutant names the text it replaces; when that text is rewritten, the run
reports an error for it instead of a result, and a test it names that was
renamed makes pytest fail on a missing test, which counts as a kill. Both
happened (2026-12-01: ``stale_clips_kept`` named a loop a review had
rewritten). Read with ``ast`` (the script defines absl flags at import).
"""
import ast
import os

from conftest import REPO


def _tables():
  """(MUTANTS, TESTS) of scripts/mutation_run.py, as literals."""
  with open(os.path.join(REPO, "scripts", "mutation_run.py")) as f:
    tree = ast.parse(f.read())
  found = {}
  for node in tree.body:
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
      if node.targets[0].id in ("MUTANTS", "TESTS"):
        found[node.targets[0].id] = ast.literal_eval(node.value)
  return found["MUTANTS"], found["TESTS"]


def test_every_mutants_text_occurs_once_in_its_module():
  """Each mutant's original text occurs exactly once in its module (the
  script refuses anything else), its module names tests to run, and the
  mutated module is still valid Python. Rules out a table pointing at code
  that was rewritten or moved, and a mutant that is a syntax error (every
  test of its module then errors at import: counted as a kill, it tests
  nothing; seen on 2026-12-01 before it was fixed)."""
  mutants, tests = _tables()
  assert len(mutants) > 100
  wrong = {}
  for name, (module, old, new) in mutants.items():
    with open(os.path.join(REPO, "samplernn_jax", module + ".py")) as f:
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


def test_every_named_test_exists():
  """Every file and ``file::test`` the table runs exists (a test function of
  that name is defined in that file). Rules out a renamed test that pytest
  reports as not found, an error the run counts as a killed mutant."""
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
          names = {n.name for n in ast.parse(f.read()).body if isinstance(n, ast.FunctionDef)}
        if test not in names:
          missing.append(path)
  assert not missing, missing
