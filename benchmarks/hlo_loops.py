"""The while loops of an optimised HLO module's text and the operations they run.

Used by sampler_ops.py (no flags here, so tests import it). On a GPU each
operation of a loop body (a fusion, a library call such as a cuBLAS gemm, a
copy) is about one kernel launch a trip; XLA:GPU may wrap runs of them in a
command buffer (a ``call`` of a computation launched as one CUDA graph),
whose operations are counted here as the callee's, one each. A fusion counts
as one, whatever it fuses.

A loop: {body, parent (the computation holding the while), trips (XLA's
known_trip_count, None if unknown), ops (operations of one trip of the body,
calls expanded, nested loops not included), by_kind, has_matmul (a dot or a
gemm custom-call in the body, its calls or fusions, or a loop nested in it),
enclosing (the body of the innermost loop it runs in, None if none), depth
(how many loops it runs in: 0 in the entry or a computation it calls)}.
"""
from __future__ import annotations

import collections
import re

# Bookkeeping that is no operation of its own (no kernel on a GPU); also the
# "-done" half of an async pair (its "-start" is the work).
FREE = {"parameter", "get-tuple-element", "tuple", "constant", "bitcast", "call", "while",
        "opt-barrier", "after-all", "add-dependency"}
# A library matmul: a cuBLAS (or other) gemm custom-call.
GEMM_CALL = re.compile(r'custom_call_target="[^"]*(?:gemm|matmul|cublas)', re.I)
_HEADER = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) \(")
_WHILE = re.compile(r"while\(.*body=%?([\w.\-]+)")
_TRIPS = re.compile(r'known_trip_count":\{"n":"(\d+)"')
_OP = re.compile(r"= (?:\([^=]*?\)|\S+) ([a-z][\w\-]*)\(")
_CALLS = re.compile(r"(?:calls|to_apply)=%?([\w.\-]+)")
_DOT = re.compile(r"\sdot\(", re.I)


def is_free(op: str) -> bool:
  """Whether an HLO op launches no kernel of its own."""
  return op in FREE or op.endswith("-done")


def computations(hlo: str) -> dict[str, list[str]]:
  """{computation name: its instruction lines} of an HLO module's text."""
  comps, cur = {}, None
  for line in hlo.splitlines():
    m = _HEADER.match(line)
    if m and line.rstrip().endswith("{"):
      cur = comps.setdefault(m.group(1), [])
    elif line.startswith("}"):
      cur = None
    elif cur is not None and " = " in line:
      cur.append(line)
  return comps


def _kinds(comps, name: str, seen=()) -> collections.Counter:
  """Operation kinds of one run of computation ``name``: ``call`` expanded to
  its callee's operations, a while loop's own body not (it is a loop)."""
  kinds = collections.Counter()
  for line in comps.get(name, []):
    m = _OP.search(line)
    if not m:
      continue
    if m.group(1) == "call":
      for callee in _CALLS.findall(line):
        if callee not in seen:
          kinds += _kinds(comps, callee, seen + (name,))
    elif not is_free(m.group(1)):
      kinds[m.group(1)] += 1
  return kinds


def _matmul_in(comps, name: str, seen=()) -> bool:
  """Whether computation ``name`` or anything it calls, fuses or loops over
  runs a matmul."""
  for line in comps.get(name, []):
    if _DOT.search(line) or GEMM_CALL.search(line):
      return True
    for callee in _CALLS.findall(line) + _WHILE.findall(line):
      if callee not in seen and _matmul_in(comps, callee, seen + (name,)):
        return True
  return False


def _callers(comps) -> dict[str, str]:
  """{callee: the computation that calls, fuses or loops over it}."""
  out = {}
  for name, lines in comps.items():
    for line in lines:
      for callee in _CALLS.findall(line) + _WHILE.findall(line):
        out.setdefault(callee, name)
  return out


def loops(hlo: str) -> list[dict]:
  """Every while loop of the module, outermost first (see the module docstring)."""
  comps = computations(hlo)
  found = []
  for parent, lines in comps.items():
    for line in lines:
      w = _WHILE.search(line)
      if w:
        t = _TRIPS.search(line)
        kinds = _kinds(comps, w.group(1))
        found.append({"body": w.group(1), "parent": parent,
                      "trips": int(t.group(1)) if t else None,
                      "ops": sum(kinds.values()), "by_kind": dict(sorted(kinds.items())),
                      "has_matmul": _matmul_in(comps, w.group(1))})
  bodies, callers = {f["body"] for f in found}, _callers(comps)
  for f in found:  # up through calls and fusions to the enclosing loop body
    p = f["parent"]
    while p not in bodies and p in callers:
      p = callers[p]
    f["enclosing"] = p if p in bodies else None
  by_body = {f["body"]: f for f in found}
  for f in found:
    depth, e = 0, f["enclosing"]
    while e is not None:
      depth, e = depth + 1, by_body[e]["enclosing"]
    f["depth"] = depth
  return sorted(found, key=lambda f: f["depth"])


def nested_in(loop: dict, outer: dict, all_loops: list[dict]) -> bool:
  """Whether ``loop`` runs inside ``outer``, at any depth."""
  by_body = {l["body"]: l for l in all_loops}
  e = loop["enclosing"]
  while e is not None and e != outer["body"]:
    e = by_body[e]["enclosing"]
  return e is not None


def nested_ops(loop: dict, all_loops: list[dict]) -> tuple[int, bool]:
  """(operations one trip of ``loop`` runs in the loops nested in it, times
  their trips; whether every trip count on the way was known)."""
  total, known = 0, True
  for child in all_loops:
    if child["enclosing"] == loop["body"]:
      inner, inner_known = nested_ops(child, all_loops)
      total += (child["trips"] or 1) * (child["ops"] + inner)
      known = known and inner_known and child["trips"] is not None
  return total, known
