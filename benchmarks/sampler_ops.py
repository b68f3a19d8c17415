"""Operations per generated sample, read from the compiled sampler: one JSON row per setting.

  python benchmarks/sampler_ops.py                       # default config, both draw forms
  python benchmarks/sampler_ops.py --configs paper --unroll 1 --unroll 16

On a GPU every top-level operation of a while loop's body is (about) one
kernel launch a trip, so the operations of the sample step's loop are what
one generated stream pays per sample, whatever the FLOPs. This reads them
from the optimised HLO of ``sampling._generate_block`` (compiled for the
device it runs on, nothing executed): no profiler, no timing, so it runs on
a CPU too, where it counts XLA:CPU's operations (a proxy: the GPU fuses
differently).

Fields: config, batch, unroll, draws ('frame' or 'sample', as
``sample_speed.py --draws``), device, frame_loop {trips, ops, by_kind}: the
body of the loop over top frames (the outermost loop that runs a matmul;
the compiled block holds two top frames), ops_per_top_frame (its operations
plus those of every loop nested in it, times their trips: the sample steps'
loop, and on a CPU the threefry rounds of the random draws),
ops_per_sample (that over the top frame size S), inner_loops (depth, trips
and operations of the loops nested in it), date.
"""
from __future__ import annotations

import collections
import re

import common

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from samplernn_jax import cli
from samplernn_jax import config as config_lib
from samplernn_jax import sampling, steps

_CONFIGS = flags.DEFINE_string("configs", "default", "tiny, paper, default or config files")
_BATCH = flags.DEFINE_integer("batch", 1, "clips generated at once")
_UNROLL = flags.DEFINE_multi_integer("unroll", [1], "sampling.generate's unroll; may repeat")
_DRAWS = flags.DEFINE_multi_enum("draws", ["frame", "sample"], ["frame", "sample"],
                                 "sample_speed.py's --draws; may repeat")

# Bookkeeping that is no operation of its own (no kernel on a GPU).
_FREE = {"parameter", "get-tuple-element", "tuple", "constant", "bitcast"}
_HEADER = re.compile(r"^(?:ENTRY )?%?([\w.\-]+) \(")
_WHILE = re.compile(r"while\(.*condition=%?[\w.\-]+, body=%?([\w.\-]+)")
_TRIPS = re.compile(r'known_trip_count":\{"n":"(\d+)"')
_OP = re.compile(r"= (?:\([^=]*?\)|\S+) ([a-z][\w\-]*)\(")


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


def loops(hlo: str) -> list[dict]:
  """Every while loop: {body, parent, trips (None if unknown), ops,
  by_kind}, parents before children (``depth`` 0 = in the entry)."""
  comps = computations(hlo)
  found = []
  for parent, lines in comps.items():
    for line in lines:
      w = _WHILE.search(line)
      if w:
        t = _TRIPS.search(line)
        kinds = collections.Counter(
            m.group(1) for m in map(_OP.search, comps.get(w.group(1), []))
            if m and m.group(1) not in _FREE)
        found.append({"body": w.group(1), "parent": parent,
                      "trips": int(t.group(1)) if t else None,
                      "ops": sum(kinds.values()), "by_kind": dict(sorted(kinds.items()))})
  bodies = {f["body"]: f for f in found}
  for f in found:
    depth, p = 0, f["parent"]
    while p in bodies:
      depth, p = depth + 1, bodies[p]["parent"]
    f["depth"] = depth
  return sorted(found, key=lambda f: f["depth"])


def nested_ops(loop: dict, all_loops: list[dict]) -> int:
  """Operations one trip of ``loop`` runs in the loops nested in it (times their trips)."""
  total = 0
  for child in all_loops:
    if child["parent"] == loop["body"]:
      total += (child["trips"] or 1) * (child["ops"] + nested_ops(child, all_loops))
  return total


def frame_loop(all_loops: list[dict]) -> dict:
  """The loop over top frames: the outermost loop that runs a matmul, in its
  own body or in a loop nested in it."""
  def has_dot(loop):
    own = "dot" in loop["by_kind"] or "custom-call" in loop["by_kind"]
    return own or any(has_dot(c) for c in all_loops if c["parent"] == loop["body"])
  with_dot = [l for l in all_loops if has_dot(l)]
  if not with_dot:
    raise ValueError("no while loop with a matmul in the compiled sampler")
  return min(with_dot, key=lambda l: l["depth"])


def sampler_hlo(model, params, batch: int, unroll: int, draws: str) -> str:
  """The optimised HLO text of one block of two top frames of generation."""
  fast, fast_params = sampling.prepare(model, params)
  variables = {"params": fast_params}
  vecs = jnp.asarray(np.eye(model.n_classes, dtype=np.float32)[np.arange(batch) % model.n_classes])
  carry = sampling.initial_carry(fast, variables, batch)
  forced = jnp.full((batch, 2 * fast.frame_sizes[0]), -1, jnp.int32)
  lowered = sampling._generate_block.lower(
      fast, variables, vecs, carry, forced, jax.random.key(0), jnp.float32(1.0),
      jnp.float32(1.0), False, unroll, draws == "frame")
  return lowered.compile().as_text()


def row(name, model, params, batch, unroll, draws) -> dict:
  all_loops = loops(sampler_hlo(model, params, batch, unroll, draws))
  frame = frame_loop(all_loops)
  per_frame = frame["ops"] + nested_ops(frame, all_loops)
  return {"config": name, "batch": batch, "unroll": unroll, "draws": draws,
          "device": common.device_kind(),
          "frame_loop": {k: frame[k] for k in ("trips", "ops", "by_kind")},
          "ops_per_top_frame": per_frame,
          "ops_per_sample": per_frame / model.frame_sizes[0],
          "inner_loops": [{k: l[k] for k in ("depth", "trips", "ops")}
                          for l in all_loops if l["depth"] > frame["depth"]],
          "date": common.today()}


def _run():
  for name in _CONFIGS.value.split(","):
    config, n_classes = common.load_config(name)
    model = config_lib.build_model(config, n_classes)
    params = steps.init_params(model, jax.random.key(0), config.seq_len)
    for draws in _DRAWS.value:
      for unroll in _UNROLL.value:
        common.emit(row(name, model, params, _BATCH.value, unroll, draws))


def main(argv=None):
  """sampler_ops.py in this process (flags only; every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
