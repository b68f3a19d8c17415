"""Every small mutant of one module, made automatically, against a test list.

  python scripts/mutation_sweep.py --module samplernn_jax/levels.py \
      --tests tests/test_levels.py > sweep.jsonl
  python scripts/mutation_sweep.py --module samplernn_jax/trim.py \
      --tests "tests/test_data.py -k trim" --only 11,14

Where ``mutation_run.py`` applies hand-written, plausible mistakes, this
script finds the ones nobody thought of: each comparison flipped to its
neighbour (``<`` to ``<=``, ``==`` to ``!=``), each arithmetic operator
swapped (``+`` and ``-``, ``*`` and ``/``), ``and``/``or`` swapped, a ``not``
or a unary minus dropped, each number changed (an int + 1, a float doubled, a
bool negated) and each conditional expression's branches swapped; docstrings
and the text of raised errors and log lines are left alone. Each mutant is
applied to a copy of the repository and the tests run with ``pytest -x``;
one JSON line a mutant (killed, survived, or timeout) and a summary with the
survivors. A survivor is either equivalent (the axis -1 of a 2-D array
written 1; a bound checked with ``>=`` where equality cannot happen) or a
test gap: write a test that kills it, and a hand-written mutant for
``mutation_run.py``'s table. Run with the fast tests of the module (seconds a
mutant): a module of 80 mutants takes 10-20 minutes on two cores.
"""
import ast
import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from samplernn_jax import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_MODULE = flags.DEFINE_string("module", "", "the module to mutate, e.g. samplernn_jax/levels.py")
_TESTS = flags.DEFINE_string("tests", "", "pytest arguments: the tests to run, e.g. "
                             "\"tests/test_data.py -k trim\"")
_ONLY = flags.DEFINE_list("only", [], "run only these mutants (their numbers k)")
_TIMEOUT = flags.DEFINE_integer("timeout", 300, "seconds per mutant before it counts as killed")

_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
        ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn,
        ast.NotIn: ast.In}
_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
        ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult}
_QUIET_CALLS = ("info", "warning", "error", "debug", "print", "write", "log")


@dataclasses.dataclass(frozen=True)
class Mutant:
  line: int
  start: int  # character offsets of the replaced text in the source
  end: int
  old: str
  new: str


def _left_alone(tree: ast.AST) -> set[int]:
  """ids of the nodes not to mutate: docstrings, and everything inside a
  raise, an f-string or a logging/print call (messages, not behaviour)."""
  skip = set()
  for node in ast.walk(tree):
    body = getattr(node, "body", None)
    if (isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)):
      skip.add(id(body[0].value))
    quiet = isinstance(node, ast.Call) and (
        getattr(node.func, "attr", None) in _QUIET_CALLS
        or getattr(node.func, "id", None) in _QUIET_CALLS)
    if isinstance(node, (ast.Raise, ast.JoinedStr)) or quiet:
      skip.update(id(n) for n in ast.walk(node))
  return skip


def _replacements(node: ast.AST) -> list[ast.AST]:
  """The mutated forms of one node (none for most nodes)."""
  if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMP:
    return [ast.Compare(node.left, [_CMP[type(node.ops[0])]()], node.comparators)]
  if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
    return [ast.BinOp(node.left, _BIN[type(node.op)](), node.right)]
  if isinstance(node, ast.BoolOp):
    return [ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), node.values)]
  if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
    return [node.operand]
  if isinstance(node, ast.IfExp):
    return [ast.IfExp(node.test, node.orelse, node.body)]
  if isinstance(node, ast.Constant) and not isinstance(node.value, str):
    v = node.value
    if isinstance(v, bool):
      return [ast.Constant(not v)]
    if isinstance(v, int):
      return [ast.Constant(v + 1)]
    if isinstance(v, float):
      return [ast.Constant(v * 2 if v else 1.0)]
  return []


def mutants(source: str) -> list[Mutant]:
  """Every mutant of ``source``, in source order; each replaces one node's
  text with its mutated form, parenthesised (so that it binds as the node
  did)."""
  tree = ast.parse(source)
  starts = [0]
  for line in source.splitlines(keepends=True):
    starts.append(starts[-1] + len(line))
  skip = _left_alone(tree)
  found = []
  for node in ast.walk(tree):
    if id(node) in skip or not hasattr(node, "end_col_offset"):
      continue
    start = starts[node.lineno - 1] + node.col_offset
    end = starts[node.end_lineno - 1] + node.end_col_offset
    old = source[start:end]
    for repl in _replacements(node):
      new = f"({ast.unparse(repl)})"
      if new.strip("()") != old:
        found.append(Mutant(node.lineno, start, end, old, new))
  return sorted(found, key=lambda m: (m.start, m.end, m.new))


def _run_one(copy: str, rel: str, source: str, m: Mutant, tests: list[str]) -> str:
  path = os.path.join(copy, rel)
  mutated = source[:m.start] + m.new + source[m.end:]
  try:
    compile(mutated, path, "exec")
  except SyntaxError:
    return "not valid Python"
  with open(path, "w") as f:
    f.write(mutated)
  # its own process group, killed whole on a timeout: a test's children (a
  # long train.py) would otherwise run on beside the next mutants
  p = subprocess.Popen([sys.executable, "-m", "pytest", "-x", "-q", "-n", "0",
                        "-p", "no:cacheprovider", *tests], cwd=copy, start_new_session=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, PYTHONPATH=copy))
  try:
    code = p.wait(timeout=_TIMEOUT.value)
    return {0: "survived", 1: "killed"}.get(code, f"pytest exit {code}")
  except BaseException as e:  # the timeout; Ctrl-C, which no longer reaches the group
    with contextlib.suppress(ProcessLookupError):
      os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    if not isinstance(e, subprocess.TimeoutExpired):
      raise
    return "timeout"
  finally:
    with open(path, "w") as f:
      f.write(source)


def _run():
  rel, tests = _MODULE.value, shlex.split(_TESTS.value)
  if not (rel and tests):
    raise ValueError("--module and --tests are required")
  if not os.path.isfile(os.path.join(ROOT, rel)):
    raise FileNotFoundError(f"--module {rel}: no such file in {ROOT}")
  source = open(os.path.join(ROOT, rel)).read()
  found = mutants(source)
  only = {int(k) for k in _ONLY.value}
  print(json.dumps({"module": rel, "tests": tests, "mutants": len(found)}), flush=True)
  survived = []
  with tempfile.TemporaryDirectory() as tmp:
    copy = os.path.join(tmp, "repo")
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".git", "runs", "demo_samples", "__pycache__", ".pytest_cache", "*.egg-info", ".venv*"))
    for k, m in enumerate(found):
      if only and k not in only:
        continue
      t0 = time.time()
      status = _run_one(copy, rel, source, m, tests)
      if status == "survived":
        survived.append(k)
      print(json.dumps({"k": k, "line": m.line, "old": m.old[:100], "new": m.new[:100],
                        "status": status, "seconds": round(time.time() - t0, 1)}), flush=True)
  print(json.dumps({"summary": True, "survived": survived}), flush=True)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
