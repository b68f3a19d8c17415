"""The kernels an optimised HLO module runs, with their bytes and FLOPs: a static profile.

Used by train_kernels.py and sampler_ops.py (no flags here, so tests import
it). Every operation of the entry computation, of a while loop's body (times
the loop's trips, nested loops multiplied out; a condition counts only where
the trip count is unknown: XLA:GPU runs a loop of known trips without it),
of a called computation (a command buffer) and of a conditional's costliest
branch is one kernel: a fusion, a library call such as a cuBLAS gemm, a
copy, a scatter, the start of an async pair (its done, barriers and tuple
bookkeeping are free). For each one:

- bytes: what it reads and writes in device memory. An operand counts in
  full unless the kernel only slices it (dynamic-slice, slice or gather of a
  fusion parameter, through bitcasts: the slices' bytes) or updates it in
  place into its result (operand 0 of a dynamic-update-slice: nothing read;
  of a scatter: the updated rows); a result written by an in-place update
  counts as the update's bytes.
- flops: 2 x the result's elements x the contracted size of each dot in the
  kernel (in a fusion, or a gemm custom-call's dimension numbers). Custom
  kernels (Pallas, Triton calls) are opaque: 0 FLOPs, their operands' and
  results' bytes, unless the call states its own (the package's Pallas
  kernels put "flops", "bytes_accessed" and "dtype" in their metadata,
  ``kernels.cost_metadata``: e.g. a kernel that reads one frame of a
  [F, ...] operand reads 1/F of it). A dot whose dimensions cannot be read counts 0 and is
  reported (``unread_dots``).
- kind: gemm (any dot), scatter, or XLA's emitter kind of the fusion
  (``KINDS``): elementwise for a loop fusion (element-wise work, but also
  slices, updates, concatenations and the multiply of a one-row dot),
  reduction for an input fusion (reductions, the one-row dot's reduce),
  fusion for other custom fusions (e.g. Triton's softmax); else the op.
- a roofline time for a device (a dict of ``deviceless.TARGETS``), max(bytes /
  HBM bandwidth, flops / matmul peak of its dtype): the time the kernel
  would take at the device's peak rates. An estimate, not a floor: a kernel
  whose data sits in L2 can beat it; launches, loop control and imperfect
  kernels make real ones slower.

The bytes are an estimate in the way XLA's own GPU cost model makes one
(operands and results, no caches), not a measurement; a profile on the
device is the measurement. Names: a kernel's ``source`` is the op_name XLA
kept from the JAX program (e.g. ``.../sample_tier/hidden1/dot_general``).
"""
from __future__ import annotations

import json
import re

import hlo_loops

_BYTES = {"pred": 1, "s4": 1, "u4": 1, "s8": 1, "u8": 1, "f8e4m3fn": 1, "f8e5m2": 1,
          "s16": 2, "u16": 2, "f16": 2, "bf16": 2, "s32": 4, "u32": 4, "f32": 4,
          "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16}
_ARRAY = re.compile(r"\b(" + "|".join(sorted(_BYTES, key=len, reverse=True)) + r")\[([\d,]*)\]")
_INSTR = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (.*?) ([a-z][\w\-]*)\(")
_PARAM_INDEX = re.compile(r"parameter\((\d+)\)")
_CONTRACT = re.compile(r"lhs_contracting_dims=\{([\d,]*)\}")
_CONTRACT_CFG = re.compile(r'"lhs_contracting_dimensions":\[([^\]]*)\]')
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_SLICING = {"dynamic-slice", "slice", "gather"}
_METADATA = re.compile(r'serialized_metadata = "((?:[^"\\]|\\.)*)"')
# XLA fusion kinds by the names used here (see the module docstring)
KINDS = {"Loop": "elementwise", "Input": "reduction"}


def shape_bytes(shape: str) -> int:
  """Bytes of a shape's text: an array (``bf16[4,8]{1,0}``) or a tuple of them."""
  total = 0
  for dtype, dims in _ARRAY.findall(shape):
    n = 1
    for d in filter(None, dims.split(",")):
      n *= int(d)
    total += n * _BYTES[dtype]
  return total


def _first_array_bytes(shape: str) -> int:
  """Bytes of a shape's first array (a tuple's first element)."""
  m = _ARRAY.search(shape)
  return shape_bytes(m.group(0)) if m else 0


def _dims(shape: str) -> list[int]:
  m = _ARRAY.search(shape)
  return [int(d) for d in m.group(2).split(",") if d] if m else []


def _operand_names(line: str, op_end: int) -> list[str]:
  """The operand names of an instruction, from the text after ``op(``."""
  depth, i = 1, op_end
  while i < len(line) and depth:
    depth += {"(": 1, ")": -1}.get(line[i], 0)
    i += 1
  inner = re.sub(r"/\*.*?\*/", "", line[op_end:i - 1])  # /*index=5*/ markers
  names = []
  for piece in re.split(r",\s*(?![^{]*\})", inner):
    words = piece.strip().split()
    if words and re.fullmatch(r"%?[\w.\-]+", words[-1]) and not words[-1][0].isdigit():
      names.append(words[-1].lstrip("%"))
  return names


def parse(hlo: str) -> dict[str, dict[str, dict]]:
  """{computation: {instruction name: {name, shape, op, operands, line, root}}} in order."""
  out = {}
  for comp, lines in hlo_loops.computations(hlo).items():
    instrs = {}
    for line in lines:
      m = _INSTR.match(line)
      if m:
        instrs[m.group(1)] = {"name": m.group(1), "shape": m.group(2), "op": m.group(3),
                              "line": line,
                              "operands": _operand_names(line, m.end()),
                              "root": line.lstrip().startswith("ROOT ")}
    out[comp] = instrs
  return out


def _users(instrs: dict, name: str) -> list[dict]:
  return [i for i in instrs.values() if name in i["operands"]]


def _is_output(instrs: dict, name: str) -> bool:
  """Whether value ``name`` is the fused computation's result (the root, or
  reaches it through bitcasts and tuples only)."""
  if instrs[name]["root"]:
    return True
  users = _users(instrs, name)
  return bool(users) and all(u["op"] in ("bitcast", "tuple") and _is_output(instrs, u["name"])
                             for u in users)


def _scatter_parts(instr: dict) -> tuple[list[str], str, list[str]]:
  """(operands, indices, updates) of a scatter (variadic: N of each)."""
  ops = instr["operands"]
  n = (len(ops) - 1) // 2
  return ops[:n], ops[n], ops[n + 1:]


def _read_bytes(instrs: dict, name: str, full: int) -> int:
  """Bytes a fused computation reads of value ``name`` (``full`` bytes): the
  slices where it is only sliced (through bitcasts and transposes: a slice
  of a transposed value reads that part of it), the updated rows where it
  is only updated in place into the result, else all of it."""
  users = _users(instrs, name)
  if not users:  # the result itself (a slice at the root): read once
    return full
  total = 0
  for u in users:
    u_name = u["name"]
    if u["op"] in ("bitcast", "transpose"):
      total += _read_bytes(instrs, u_name, full)
    elif u["op"] in _SLICING and u["operands"][0] == name:  # a slice, maybe sliced again
      total += _read_bytes(instrs, u_name, shape_bytes(u["shape"]))
    elif (u["op"] == "dynamic-update-slice" and u["operands"][0] == name
          and _is_output(instrs, u_name)):
      continue  # written in place: not read
    elif (u["op"] == "scatter" and name in _scatter_parts(u)[0]
          and _is_output(instrs, u_name)):  # read-modify-write of the updated rows
      total += sum(shape_bytes(instrs[o]["shape"]) for o in _scatter_parts(u)[2]
                   if o in instrs)
    else:
      return full
  return min(total, full)


def _written_bytes(instrs: dict, root: dict) -> int:
  """Bytes a fused computation writes: an in-place update writes its update."""
  if root["op"] == "tuple":
    return sum(_written_bytes(instrs, instrs[o]) for o in root["operands"] if o in instrs)
  if root["op"] == "bitcast" and root["operands"][0] in instrs:
    return _written_bytes(instrs, instrs[root["operands"][0]])
  if root["op"] == "dynamic-update-slice":
    return shape_bytes(instrs[root["operands"][1]]["shape"])
  if root["op"] == "scatter":
    return sum(shape_bytes(instrs[o]["shape"]) for o in _scatter_parts(root)[2] if o in instrs)
  return shape_bytes(root["shape"])


def _dot_flops(instrs: dict, instr: dict) -> tuple[float | None, str]:
  """(FLOPs, operand dtype) of a dot instruction or a gemm custom-call;
  FLOPs None where its dimension numbers or operand could not be read."""
  lhs = instrs.get(instr["operands"][0]) if instr["operands"] else None
  m = _CONTRACT.search(instr["line"]) or _CONTRACT_CFG.search(instr["line"])
  if lhs is None or not m or not _ARRAY.search(lhs["shape"]):
    return None, ""
  dims = _dims(lhs["shape"])
  k = 1
  for d in re.findall(r"\d+", m.group(1)):
    k *= dims[int(d)]
  out = _ARRAY.search(instr["shape"])  # a gemm custom-call's first result
  n = 1
  for d in filter(None, out.group(2).split(",")):
    n *= int(d)
  return 2.0 * n * k, _ARRAY.search(lhs["shape"]).group(1)


def _fusion_flops(module: dict, comp: str) -> tuple[float, str, int]:
  """(FLOPs, dtype of the first dot's operands, dots not read) of a fusion."""
  flops, dtype, unread = 0.0, "", 0
  for instr in module.get(comp, {}).values():
    if instr["op"] == "dot":
      f, d = _dot_flops(module[comp], instr)
      flops, dtype, unread = flops + (f or 0.0), dtype or d, unread + (f is None)
    if instr["op"] == "fusion":
      for callee in hlo_loops._CALLS.findall(instr["line"]):
        f, d, u = _fusion_flops(module, callee)
        flops, dtype, unread = flops + f, dtype or d, unread + u
  return flops, dtype, unread


def kernel(module: dict, comp: str, name: str) -> dict:
  """One operation of a computation as a kernel: {name, op, kind, bytes, flops,
  dtype (of a dot's operands), unread_dots (dots whose FLOPs could not be
  read, counted as 0), source}."""
  instrs = module[comp]
  instr = instrs[name]
  op, line = instr["op"], instr["line"]
  # every operand in its position (a name not found moves 0 bytes)
  operands = [shape_bytes(instrs[o]["shape"]) if o in instrs else 0 for o in instr["operands"]]
  flops, dtype, unread = 0.0, "", 0
  callee = (hlo_loops._CALLS.findall(line) or [None])[0]
  if op == "fusion" and callee in module:
    fused = module[callee]
    params = {int(_PARAM_INDEX.search(v["line"]).group(1)): k
              for k, v in fused.items() if v["op"] == "parameter"}
    read = sum(_read_bytes(fused, params[i], b) if i in params else b
               for i, b in enumerate(operands))
    root = next((v for v in fused.values() if v["root"]), None)
    written = _written_bytes(fused, root) if root else shape_bytes(instr["shape"])
    flops, dtype, unread = _fusion_flops(module, callee)
  elif op == "dynamic-update-slice":
    read, written = sum(operands[1:]), operands[1]
  elif op == "scatter":
    _, idx, updates = _scatter_parts(instr)
    upd = sum(shape_bytes(instrs[o]["shape"]) for o in updates if o in instrs)
    read = upd + (shape_bytes(instrs[idx]["shape"]) if idx in instrs else 0) + upd
    written = upd
  elif op in _SLICING:
    read = written = shape_bytes(instr["shape"])
  elif op.endswith("-start"):  # an async pair's work: its operands and first result
    read, written = sum(operands), _first_array_bytes(instr["shape"])
  elif op == "custom-call" and (cost := _stated_cost(line)):
    read, written = cost.get("bytes_accessed", sum(operands) + shape_bytes(instr["shape"])), 0
    flops, dtype = cost.get("flops", 0.0), cost.get("dtype", "")
  else:
    read, written = sum(operands), shape_bytes(instr["shape"])
    if op == "dot" or (op == "custom-call" and hlo_loops.GEMM_CALL.search(line)):
      f, dtype = _dot_flops(instrs, instr)
      flops, unread = f or 0.0, int(f is None)
      if op == "custom-call":  # drop the workspace result of a cuBLAS call
        written = _first_array_bytes(instr["shape"])
  kind_m = re.search(r"kind=k(\w+)", line)
  kind = ("gemm" if flops or unread else "scatter" if "scatter" in (op + (callee or "")) else
          KINDS.get(kind_m.group(1), "fusion") if kind_m else op)
  src = _OP_NAME.search(line)
  return {"name": name, "op": op, "kind": kind, "bytes": read + written, "flops": flops,
          "dtype": dtype, "unread_dots": unread, "source": src.group(1) if src else ""}


def _stated_cost(line: str) -> dict:
  """The FLOPs, bytes and operand dtype a Pallas call states in its metadata
  (numbers as floats), or {} (HLO prints the metadata's quotes as \\22)."""
  m = _METADATA.search(line)
  if not m:
    return {}
  try:
    meta = json.loads(m.group(1).replace("\\22", '"'))
  except ValueError:
    return {}
  out = {k: float(meta[k]) for k in ("flops", "bytes_accessed") if k in meta}
  return out | ({"dtype": meta["dtype"]} if out and "dtype" in meta else {})


def kernels(hlo: str) -> tuple[list[dict], bool]:
  """(every kernel one run of the module launches, each with ``count``: how
  many times a run launches it; whether every count is exact).

  A loop body counts its trips times; its condition is not counted when the
  trip count is known (XLA:GPU then runs the body that many times without
  evaluating it), else trips + 1 times with the trip count taken as 1. Of a
  conditional's branches the one moving the most bytes is counted (which
  runs is data): both make the counts inexact."""
  module = parse(hlo)
  entry = next(m.group(1) for line in hlo.splitlines()
               if (m := re.match(r"^ENTRY %?([\w.\-]+)", line)))
  exact = True

  def visit(comp: str, count: int, seen: tuple) -> list[dict]:
    nonlocal exact
    out = []
    for name, instr in module.get(comp, {}).items():
      line, here = instr["line"], seen + (comp,)
      if instr["op"] == "while":
        body = hlo_loops._WHILE.search(line).group(1)
        cond = re.search(r"condition=%?([\w.\-]+)", line).group(1)
        t = hlo_loops._TRIPS.search(line)
        out += visit(body, count * (int(t.group(1)) if t else 1), here)
        if not t:
          exact = False
          out += visit(cond, count * 2, here)
      elif instr["op"] == "conditional":
        exact = False
        branches = [visit(b, count, here) for b in _branches(line) if b in module]
        out += max(branches, key=lambda ks: sum(k["count"] * k["bytes"] for k in ks),
                   default=[])
      elif instr["op"] == "call":
        out += sum((visit(c, count, here) for c in hlo_loops._CALLS.findall(line)
                    if c in module and c not in seen), [])
      elif not hlo_loops.is_free(instr["op"]):
        out.append(dict(kernel(module, comp, name), count=count))
    return out

  return visit(entry, 1, ()), exact


def _branches(line: str) -> list[str]:
  """A conditional's branch computations (either of XLA's two spellings)."""
  m = re.search(r"branch_computations=\{([^}]*)\}", line)
  if m:
    return [b.strip().lstrip("%") for b in m.group(1).split(",")]
  return re.findall(r"(?:true|false)_computation=%?([\w.\-]+)", line)


def roofline_s(k: dict, target: dict) -> float:
  """A kernel's time at ``target``'s peak rates: its bytes at the HBM
  bandwidth or its FLOPs at the matmul peak of its operands' dtype, whichever
  is slower (an estimate, not a floor: see the module docstring)."""
  peak = target["bf16_flops"] if k["dtype"] in ("bf16", "f16") else target["f32_flops"]
  return max(k["bytes"] / target["bytes_per_s"], k["flops"] / peak)


def summary(hlo: str, target: dict | None, top: int = 10) -> dict:
  """Totals of one run of the module: kernels launched, bytes, matmul FLOPs,
  the same by kind, and the ``top`` kernels (launches, bytes and FLOPs per
  launch); with a ``target``, also roofline times (all launches: the
  kernels' sum ``roofline_s``, each kind's, each top kernel's), which rank
  ``top``; without, ``top`` ranks by bytes moved in all launches.
  ``counts_exact``: no unknown trip count or conditional on the way."""
  ks, exact = kernels(hlo)
  cost = (lambda k: k["count"] * roofline_s(k, target)) if target else None
  by_kind = {}
  for k in ks:
    row = by_kind.setdefault(k["kind"], {"kernels": 0, "bytes": 0.0, "flops": 0.0,
                                         **({"roofline_s": 0.0} if target else {})})
    row["kernels"] += k["count"]
    row["bytes"] += k["count"] * k["bytes"]
    row["flops"] += k["count"] * k["flops"]
    if target:
      row["roofline_s"] += cost(k)
  ranked = sorted(ks, key=cost or (lambda k: k["count"] * k["bytes"]), reverse=True)
  out = {"kernels": sum(k["count"] for k in ks),
         "bytes": sum(k["count"] * k["bytes"] for k in ks),
         "matmul_flops": sum(k["count"] * k["flops"] for k in ks),
         "unread_dots": sum(k["unread_dots"] for k in ks),
         "counts_exact": exact,
         "by_kind": dict(sorted(by_kind.items())),
         "top": [{"kind": k["kind"], "launches": k["count"], "bytes_per_launch": k["bytes"],
                  "flops_per_launch": k["flops"],
                  **({"roofline_s": cost(k)} if target else {}),
                  "source": k["source"]} for k in ranked[:top]]}
  if target:
    out["roofline_s"] = sum(cost(k) for k in ks)
  return out
