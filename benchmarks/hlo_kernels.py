"""The kernels an optimised HLO module runs, with their bytes and FLOPs: a static profile.

Used by train_kernels.py (no flags here, so tests import it). Every operation
of the entry computation, of a while loop's body and condition (times the
loop's trips, nested loops multiplied out) and of a called computation (a
command buffer) is one kernel: a fusion, a library call such as a cuBLAS
gemm, a copy, a scatter. For each one:

- bytes: what it reads and writes in device memory. An operand counts in
  full unless the kernel only slices it (dynamic-slice, slice or gather of a
  fusion parameter, through bitcasts: the slices' bytes), or updates it in
  place (operand 0 of a dynamic-update-slice or a scatter: nothing read); a
  result written by an in-place update counts as the update's bytes.
- flops: 2 x the result's elements x the contracted size of each dot in the
  kernel (in a fusion, or a gemm custom-call's dimension numbers).
- a roofline time, max(bytes / bandwidth, flops / peak) for a device
  (a dict of ``deviceless.TARGETS``): how long the kernel takes at best,
  caches and launch costs aside.

The bytes are an estimate in the way XLA's own GPU cost model makes one
(operands and results, no caches), not a measurement; a profile on the
device is the measurement. Names: a kernel's ``source`` is the op_name XLA
kept from the JAX program (e.g. ``.../sample_tier/hidden1/dot_general``).
"""
from __future__ import annotations

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
_GEMM_TARGET = re.compile(r'custom_call_target="[^"]*(?:gemm|matmul|cublas)', re.I)
_SLICING = {"dynamic-slice", "slice", "gather"}
_IN_PLACE = {"dynamic-update-slice", "scatter"}


def shape_bytes(shape: str) -> int:
  """Bytes of a shape's text: an array (``bf16[4,8]{1,0}``) or a tuple of them."""
  total = 0
  for dtype, dims in _ARRAY.findall(shape):
    n = 1
    for d in filter(None, dims.split(",")):
      n *= int(d)
    total += n * _BYTES[dtype]
  return total


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
  """{computation: {instruction name: {shape, op, operands, line}}} in order."""
  out = {}
  for comp, lines in hlo_loops.computations(hlo).items():
    instrs = {}
    for line in lines:
      m = _INSTR.match(line)
      if m:
        instrs[m.group(1)] = {"shape": m.group(2), "op": m.group(3), "line": line,
                              "operands": _operand_names(line, m.end()),
                              "root": line.lstrip().startswith("ROOT ")}
    out[comp] = instrs
  return out


def _users(instrs: dict, name: str) -> list[dict]:
  return [i for i in instrs.values() if name in i["operands"]]


def _read_bytes(instrs: dict, name: str, full: int) -> int:
  """Bytes a fused computation reads of value ``name`` (a parameter): the
  slices where it is only sliced, nothing where it is only updated in place."""
  total = 0
  for u in _users(instrs, name):
    if u["op"] == "bitcast":
      total += _read_bytes(instrs, _name_of(instrs, u), full)
    elif u["op"] in _SLICING and u["operands"][0] == name:  # a slice, maybe sliced again
      total += _read_bytes(instrs, _name_of(instrs, u), shape_bytes(u["shape"]))
    elif u["op"] in _IN_PLACE and u["operands"][0] == name:
      continue
    else:
      return full
  return min(total, full)


def _name_of(instrs: dict, instr: dict) -> str:
  return next(k for k, v in instrs.items() if v is instr)


def _written_bytes(instrs: dict, root: dict) -> int:
  """Bytes a fused computation writes: an in-place update writes its update."""
  if root["op"] == "tuple":
    return sum(_written_bytes(instrs, instrs[o]) for o in root["operands"] if o in instrs)
  if root["op"] == "bitcast" and root["operands"][0] in instrs:
    return _written_bytes(instrs, instrs[root["operands"][0]])
  if root["op"] == "dynamic-update-slice":
    return shape_bytes(instrs[root["operands"][1]]["shape"])
  if root["op"] == "scatter":
    return shape_bytes(instrs[root["operands"][2]]["shape"])
  return shape_bytes(root["shape"])


def _dot_flops(instrs: dict, instr: dict) -> tuple[float, str]:
  """(FLOPs, operand dtype) of a dot instruction or a gemm custom-call."""
  lhs = instrs.get(instr["operands"][0]) if instr["operands"] else None
  if lhs is None:
    return 0.0, ""
  dims = _dims(lhs["shape"])
  m = _CONTRACT.search(instr["line"]) or _CONTRACT_CFG.search(instr["line"])
  if not m:
    return 0.0, ""
  k = 1
  for d in re.findall(r"\d+", m.group(1)):
    k *= dims[int(d)]
  out = _ARRAY.search(instr["shape"])  # a gemm custom-call's first result
  n = 1
  for d in filter(None, out.group(2).split(",")):
    n *= int(d)
  return 2.0 * n * k, _ARRAY.search(lhs["shape"]).group(1)


def _fusion_flops(module: dict, comp: str) -> tuple[float, str]:
  flops, dtype = 0.0, ""
  for instr in module.get(comp, {}).values():
    if instr["op"] == "dot":
      f, d = _dot_flops(module[comp], instr)
      flops, dtype = flops + f, dtype or d
    for callee in hlo_loops._CALLS.findall(instr["line"]):
      if instr["op"] == "fusion":
        f, d = _fusion_flops(module, callee)
        flops, dtype = flops + f, dtype or d
  return flops, dtype


def kernel(module: dict, comp: str, name: str) -> dict:
  """One operation of a computation as a kernel: {name, op, kind, bytes, flops,
  dtype (of a dot's operands), source}."""
  instrs = module[comp]
  instr = instrs[name]
  op, line = instr["op"], instr["line"]
  operands = [(o, shape_bytes(instrs[o]["shape"])) for o in instr["operands"] if o in instrs]
  flops, dtype = 0.0, ""
  callee = (hlo_loops._CALLS.findall(line) or [None])[0]
  if op == "fusion" and callee in module:
    fused = module[callee]
    params = {int(_PARAM_INDEX.search(v["line"]).group(1)): k
              for k, v in fused.items() if v["op"] == "parameter"}
    read = sum(_read_bytes(fused, params[i], b) if i in params else b
               for i, (_, b) in enumerate(operands))
    root = next((v for v in fused.values() if v["root"]), None)
    written = _written_bytes(fused, root) if root else shape_bytes(instr["shape"])
    flops, dtype = _fusion_flops(module, callee)
  elif op in _IN_PLACE:
    update = operands[1][1] if op == "dynamic-update-slice" else operands[2][1]
    read, written = sum(b for _, b in operands[1:]), update
  elif op in _SLICING:
    read = written = shape_bytes(instr["shape"])
  else:
    read, written = sum(b for _, b in operands), shape_bytes(instr["shape"])
    if op == "dot" or (op == "custom-call" and _GEMM_TARGET.search(line)):
      flops, dtype = _dot_flops(instrs, instr)
      if op == "custom-call":  # drop the workspace result of a cuBLAS call
        written = shape_bytes(_ARRAY.search(instr["shape"]).group(0))
  kind_m = re.search(r"kind=k(\w+)", line)
  kind = ("gemm" if flops else "scatter" if "scatter" in (op + (callee or "")) else
          {"Loop": "elementwise", "Input": "reduction"}.get(kind_m.group(1), "fusion")
          if kind_m else op)
  src = _OP_NAME.search(line)
  return {"name": name, "op": op, "kind": kind, "bytes": read + written, "flops": flops,
          "dtype": dtype, "source": src.group(1) if src else ""}


def kernels(hlo: str) -> tuple[list[dict], bool]:
  """(every kernel one run of the module launches, each with ``count``: how
  many times a run launches it; whether every loop's trip count was known).
  Kernels of a loop body count trips times (its condition trips + 1)."""
  module = parse(hlo)
  entry = next(m.group(1) for line in hlo.splitlines()
               if (m := re.match(r"^ENTRY %?([\w.\-]+)", line)))
  out, known = [], True

  def visit(comp: str, count: int, seen: tuple):
    nonlocal known
    for name, instr in module.get(comp, {}).items():
      if instr["op"] == "while":
        body = re.search(r"body=%?([\w.\-]+)", instr["line"]).group(1)
        cond = re.search(r"condition=%?([\w.\-]+)", instr["line"]).group(1)
        t = hlo_loops._TRIPS.search(instr["line"])
        known = known and t is not None
        trips = int(t.group(1)) if t else 1
        visit(body, count * trips, seen + (comp,))
        visit(cond, count * (trips + 1), seen + (comp,))
      elif instr["op"] in ("call", "conditional"):
        for callee in re.findall(r"(?:to_apply|calls|branch_computations=\{[^}]*)=?%?([\w.\-]+)",
                                 instr["line"]):
          if callee in module and callee not in seen:
            visit(callee, count, seen + (comp,))
      elif instr["op"] not in hlo_loops.FREE:
        out.append(dict(kernel(module, comp, name), count=count))

  visit(entry, 1, ())
  return out, known


def roofline_s(k: dict, target: dict) -> float:
  """The least time a kernel can take on ``target``: its bytes at the memory
  bandwidth or its FLOPs at the matmul peak of its operands' dtype."""
  peak = target["bf16_flops"] if k["dtype"] in ("bf16", "f16") else target["f32_flops"]
  return max(k["bytes"] / target["bytes_per_s"], k["flops"] / peak)


def summary(hlo: str, target: dict | None, top: int = 10) -> dict:
  """Totals of one run of the module: kernels launched, bytes, matmul FLOPs,
  the same by kind, and the ``top`` kernels (count times each); with a
  ``target``, also the kernels' roofline times, summed (``roofline_s``) and
  ranking ``top``, which otherwise ranks by bytes."""
  ks, known = kernels(hlo)
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
  ranked = sorted(ks, key=cost or (lambda k: -k["count"] * k["bytes"]), reverse=bool(cost))
  out = {"kernels": sum(k["count"] for k in ks),
         "bytes": sum(k["count"] * k["bytes"] for k in ks),
         "matmul_flops": sum(k["count"] * k["flops"] for k in ks),
         "all_trips_known": known,
         "by_kind": dict(sorted(by_kind.items())),
         "top": [{"kind": k["kind"], "count": k["count"], "bytes": k["bytes"],
                  "flops": k["flops"], **({"roofline_s": cost(k)} if target else {}),
                  "source": k["source"]} for k in ranked[:top]]}
  if target:
    out["roofline_s"] = sum(cost(k) for k in ks)
  return out
