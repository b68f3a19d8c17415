"""Markdown tables from the benchmarks' JSON lines (for benchmarks/README.md).

  python benchmarks/table.py benchmarks/results/2026-11-26-h200/*.jsonl

Rows of train_speed.py and of sample_speed.py are told apart by their fields
and printed as two tables, in file order. Fields that older rows lack
(grad_matmuls, loss_grad, rnn_grad, relu_grad, rnn_unroll, rnn_kernel, unroll,
draws, min_rows, a baseline) print as "-".
"""
import json
import sys


def fmt_rate(x):
  return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k" if x >= 1e3 else f"{x:.0f}"


def train_row(r):
  mem = r.get("peak_memory_bytes")
  mfu = r.get("mfu")
  return [r["config"], r["batch_size"], r["seq_len"], r["dtype"], r["sample_l1"],
          r.get("grad_matmuls", "-"), r.get("loss_grad", "-"), r.get("rnn_grad", "-"),
          r.get("relu_grad", "-"), r.get("rnn_unroll", "-"), r.get("rnn_kernel", "-"),
          r["device_kind"],
          f"{r['step_s']:.4f}",
          fmt_rate(r["samples_per_s"]),
          f"{mfu:.2f}" if mfu is not None else "-",
          f"{mem / 2**30:.1f}" if mem else "-", f"{r['compile_s']:.1f}",
          f"{r['speedup_vs_eager']:.0f}x" if "speedup_vs_eager" in r else "-"]


def sample_row(r):
  rtf = r["real_time_factor"]
  speedup = r.get("speedup_vs_python_loop")
  # the same samples as the Python loop, or (a later --unroll / --draws row) as
  # the first row (the field's name until 2026-11-30: same_samples_as_first_unroll)
  same = r.get("baseline_same_samples",
               r.get("same_samples_as_first", r.get("same_samples_as_first_unroll", "-")))
  return [r["config"], r["batch"], r["seconds_generated"], r["dtype"], r["sample_l1"],
          r.get("unroll", "-"), r.get("draws", "-"), r.get("min_rows", "-"), r["device"],
          fmt_rate(r["samples_per_s"]),
          rtf["per_stream"], rtf["total"], r["wall_s"],
          f"{speedup:.1f}x" if speedup is not None else "-", same]


TRAIN = ["config", "batch", "seq_len", "dtype", "sample_l1", "grad matmuls", "loss grad",
         "rnn grad", "relu grad", "rnn unroll", "rnn kernel", "device",
         "step s", "samples/s", "MFU", "peak GiB", "compile s", "vs eager"]
SAMPLE = ["config", "batch", "seconds", "dtype", "sample_l1", "unroll", "draws", "min rows",
          "device",
          "samples/s", "RTF per clip", "RTF total", "wall s", "vs Python loop", "same samples"]


def table(header, rows):
  lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def main(paths):
  train, sample = [], []
  for path in paths:
    with open(path) as f:
      for n, line in enumerate(f, 1):
        if not line.strip():
          continue
        try:
          r = json.loads(line)
        except json.JSONDecodeError as e:
          sys.exit(f"{path}:{n}: not a JSON line ({e})")
        (train if "step_s" in r else sample).append(r)
  if train:
    print(table(TRAIN, [train_row(r) for r in train]) + "\n")
  if sample:
    print(table(SAMPLE, [sample_row(r) for r in sample]))


if __name__ == "__main__":
  if len(sys.argv) < 2:
    sys.exit(__doc__)
  main(sys.argv[1:])
