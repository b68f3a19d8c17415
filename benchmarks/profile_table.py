"""The most expensive operations of a jax.profiler trace, as JSON rows.

  python benchmarks/train_speed.py --configs paper --batch_sizes 1024 --profile /tmp/prof
  python benchmarks/profile_table.py --trace_dir /tmp/prof --top 10

Reads the newest ``*.trace.json.gz`` under ``--trace_dir`` (train_speed.py
and sample_speed.py write one with ``--profile``) and sums the duration of
every complete event run by the device that holds no other: on a GPU the
kernels of the ``/device:GPU:N`` processes' stream lines, on a CPU the XLA
executor threads (``tf_XLA*``) without the executor's wrapping events. One
JSON row an operation (name, total ms, calls, mean us,
share of the device time), the largest first, then a summary row. The
operation name is the HLO op's (``args.hlo_op``) where the trace gives it,
else the kernel's; a row also keeps the first call's kernel name, JAX
operation (``tf_op``) and HLO text (``long_name``) where the trace has them.
"""
import collections
import glob
import gzip
import json
import os

from absl import app, flags

from samplernn_jax import cli

_TRACE_DIR = flags.DEFINE_string("trace_dir", "", "folder given to --profile")
_TOP = flags.DEFINE_integer("top", 10, "rows to print")


def newest_trace(trace_dir: str) -> str:
  found = glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True)
  if not found:
    raise FileNotFoundError(f"--trace_dir={trace_dir}: no *.trace.json.gz (run a "
                            "benchmark with --profile to this folder first)")
  return max(found, key=os.path.getmtime)


def device_events(trace: dict) -> list[dict]:
  """Complete ('X') events on the device, leaves only: on a GPU the kernels
  of its ``Stream`` lines (its derived "XLA Modules" and "XLA Ops" lines
  repeat the same time: counted, they would double it), else the XLA CPU
  threads' events."""
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  procs, threads = {}, {}
  for e in events:
    if e.get("ph") == "M" and e.get("name") == "process_name":
      procs[e["pid"]] = e["args"]["name"]
    elif e.get("ph") == "M" and e.get("name") == "thread_name":
      threads[(e["pid"], e["tid"])] = e["args"]["name"]
  gpu = {p for p, n in procs.items() if n.startswith("/device:GPU")}
  done = [e for e in events if e.get("ph") == "X" and "dur" in e]
  if gpu:
    on_gpu = [e for e in done if e["pid"] in gpu]
    streams = [e for e in on_gpu if threads.get((e["pid"], e.get("tid")), "").startswith("Stream")]
    return leaf_events(streams or on_gpu)
  return leaf_events([e for e in done
                      if threads.get((e["pid"], e.get("tid")), "").startswith("tf_XLA")
                      and not e["name"].startswith("end: ")])


def leaf_events(events: list[dict]) -> list[dict]:
  """The events that hold no other event of their thread: a wrapper (the CPU
  executor's ``ThunkExecutor::Execute`` around the operations it runs) would
  count its children's time a second time. Events without a start time are
  kept."""
  by_thread = collections.defaultdict(list)
  for e in events:
    if "ts" in e:
      by_thread[(e["pid"], e.get("tid"))].append(e)
  parents = set()
  for evs in by_thread.values():
    evs.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
    for a, b in zip(evs, evs[1:]):
      if float(b["ts"]) < float(a["ts"]) + float(a["dur"]):  # b starts inside a
        parents.add(id(a))
  return [e for e in events if id(e) not in parents]


# What a GPU trace's event may say of the operation beyond its HLO op's name:
# the kernel, the JAX operation (tf_op) and the HLO text (long_name), kept from
# the first call so that a fusion's row can be traced back to the model's code.
_DETAIL_ARGS = ("tf_op", "long_name")


def op_table(events: list[dict], top: int) -> list[dict]:
  total = collections.Counter()
  calls = collections.Counter()
  detail = {}
  for e in events:
    args = e.get("args") or {}
    name = args.get("hlo_op") or e["name"]
    total[name] += float(e["dur"])  # microseconds
    calls[name] += 1
    if name not in detail:
      detail[name] = {k: str(args[k])[:300] for k in _DETAIL_ARGS if args.get(k)}
      if e["name"] != name:
        detail[name]["kernel"] = e["name"]
  busy = sum(total.values()) or 1.0
  return [{"op": name, "total_ms": round(us / 1e3, 3), "calls": calls[name],
           "mean_us": round(us / calls[name], 2), "share": round(us / busy, 4),
           **detail[name]}
          for name, us in total.most_common(top)]


def _run():
  path = newest_trace(_TRACE_DIR.value)
  with gzip.open(path, "rt") as f:
    events = device_events(json.load(f))
  rows = op_table(events, _TOP.value)
  for row in rows:
    print(json.dumps(row))
  print(json.dumps({"summary": True, "trace": path, "device_events": len(events),
                    "device_ms": round(sum(float(e["dur"]) for e in events) / 1e3, 3),
                    "top_share": round(sum(r["share"] for r in rows), 4)}))


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
