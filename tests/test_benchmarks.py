"""The benchmarks' own arithmetic: model FLOPs per sample and the table maker.

MFU in benchmarks/train_speed.py rests on ``common.train_flops_per_sample``;
it is checked here against the paper's figure and against a count made from
the parameter shapes of the built model, so a layer the formula forgets
fails the test. Nothing here times anything.
"""
import functools
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO, dot_operand_dtypes, nested_eqns

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import common  # noqa: E402

from samplernn_jax import config as config_lib, model as model_lib, steps  # noqa: E402


def flops_from_params(config, n_classes):
  """3 x (2 x in x out) of every kernel, per frame (frame tiers) or per sample."""
  model = config_lib.build_model(config, n_classes)
  shapes = steps.abstract_params(model, config.seq_len)
  fs = config_lib.frame_sizes(config)
  total = 0.0
  for path, leaf in jax.tree_util.tree_flatten_with_path(shapes)[0]:
    keys = [getattr(k, "key", str(k)) for k in path]
    if keys[-1] != "kernel" or keys[0] == "sample_tier" and keys[1] == "cond":
      continue  # the sample tier's class projection runs once per clip
    per = 1 if keys[0] == "sample_tier" else fs[int(keys[0][len("tier"):])]
    total += 2.0 * leaf.shape[0] * leaf.shape[1] / per
  return 3.0 * total


def test_paper_model_costs_52_mflop_per_sample():
  """train_flops_per_sample of the paper config (dim 1024, frame 16, three GRU layers, sample
  embedding 256, 15 classes) is 52 MFLOP within 1% (it gives 51.5 M). Rules out a
  forward-only count (17.2 M), multiply-adds counted as one FLOP (25.8 M), and frame-tier
  FLOPs not divided by the frame size (235 M)."""
  config, n = common.load_config("paper")
  assert common.train_flops_per_sample(config, n) == pytest.approx(52e6, rel=0.01)


@pytest.mark.parametrize("variant", [
    {},
    {"frame_size": 8, "frame_sizes": (8, 2), "rnn_type": "LSTM", "skip_conn": True},
    {"emb_size": 0, "n_rnn": 1, "cond_type": "embedding", "cond_emb_size": 8,
     "cond_sample_tier": True},
    {"sample_input": "real"},
])
def test_flops_formula_counts_every_layer(variant):
  """At dim 64, for the paper config, a three-tier LSTM with skip connections, one-hot sample
  input with a class embedding also fed to the sample tier, and real-valued sample input, the
  formula equals (within 1e-9) 3 x 2 x in x out summed over the built model's kernels, frame
  tiers' per frame. Rules out a formula that forgets a layer the model has (skip projections,
  the lower tier's input expansion, the LSTM's fourth gate) or gets a layer's input width
  wrong (e.g. the real input's first layer as one value wide instead of the frame's s)."""
  config, n = common.load_config("paper")
  config.dim = 64
  config.update(variant)
  assert common.train_flops_per_sample(config, n) == pytest.approx(
      flops_from_params(config, n), rel=1e-9)


def test_table_turns_json_lines_into_markdown(tmp_path):
  """table.py prints train and sample rows as two markdown tables (a train
  row's rnn_grad and rnn_kernel in their columns, fields it lacks as "-"), later
  --unroll / --draws / --min_rows rows (no baseline of their own) with "-" and their
  same-samples flag (under its old name in a row before 2026-11-30), and
  names the file and line of a bad JSON line; each cell stands under its
  field's header. Rules out columns in the wrong order (in the rows or in
  the header: e.g. "rnn grad" and "relu grad" swapped over the cells), a
  KeyError on rows without a baseline, and silent skips."""
  train = {"config": "tiny", "batch_size": 8, "seq_len": 256, "dtype": "float32",
           "sample_l1": "matmul", "device_kind": "cpu", "step_s": 0.0125,
           "samples_per_s": 163840.0, "mfu": None, "peak_memory_bytes": 2**30,
           "compile_s": 3.5, "speedup_vs_eager": 80.2, "rnn_grad": "written",
           "rnn_kernel": "pallas"}
  sample = {"config": "paper", "batch": 300, "seconds_generated": 5.0, "dtype": "bfloat16",
            "sample_l1": "matmul", "device": "gpu", "samples_per_s": 4.1e6,
            "real_time_factor": {"per_stream": 0.85, "total": 256.4}, "wall_s": 5.9,
            "speedup_vs_python_loop": 48.47, "baseline_same_samples": False}
  later = dict(sample, unroll=16, same_samples_as_first_unroll=True, samples_per_s=5e6)
  for key in ("speedup_vs_python_loop", "baseline_same_samples"):
    del later[key]  # a later --unroll row: no baseline of its own
  draws = dict(later, draws="sample", same_samples_as_first=False, samples_per_s=3e6,
               min_rows=2)
  del draws["same_samples_as_first_unroll"]
  path = tmp_path / "rows.jsonl"
  path.write_text("\n".join([json.dumps(train), "", json.dumps(sample), json.dumps(later),
                             json.dumps(draws)]))
  out = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "table.py"), str(path)],
                       capture_output=True, text=True, check=True).stdout
  lines = [l for l in out.splitlines() if l.startswith("|")]
  assert len(lines) == 8  # two tables of header and rule; one train row, three sample rows
  assert ("| tiny | 8 | 256 | float32 | matmul | - | - | written | - | - | pallas | cpu | 0.0125 "
          "| 163.8 k "
          "| - | 1.0 | 3.5 | 80x |") in lines
  assert ("| paper | 300 | 5.0 | bfloat16 | matmul | - | - | - | gpu | 4.10 M | 0.85 | 256.4 "
          "| 5.9 | 48.5x | False |") in lines
  assert ("| paper | 300 | 5.0 | bfloat16 | matmul | 16 | - | - | gpu | 5.00 M | 0.85 | 256.4 "
          "| 5.9 | - | True |") in lines
  assert ("| paper | 300 | 5.0 | bfloat16 | matmul | 16 | sample | 2 | gpu | 3.00 M | 0.85 "
          "| 256.4 | 5.9 | - | False |") in lines
  cells = lambda l: [c.strip() for c in l.strip("|").split("|")]
  under = lambda header, row: dict(zip(cells(header), cells(row)))
  assert {k: v for k, v in under(lines[0], lines[2]).items() if v != "-"} == {
      "config": "tiny", "batch": "8", "seq_len": "256", "dtype": "float32",
      "sample_l1": "matmul", "rnn grad": "written", "rnn kernel": "pallas", "device": "cpu",
      "step s": "0.0125", "samples/s": "163.8 k", "peak GiB": "1.0", "compile s": "3.5",
      "vs eager": "80x"}
  assert under(lines[3], lines[7]) == {
      "config": "paper", "batch": "300", "seconds": "5.0", "dtype": "bfloat16",
      "sample_l1": "matmul", "unroll": "16", "draws": "sample", "min rows": "2",
      "device": "gpu", "samples/s": "3.00 M", "RTF per clip": "0.85", "RTF total": "256.4",
      "wall s": "5.9", "vs Python loop": "-", "same samples": "False"}
  assert len(cells(lines[3])) == len(cells(lines[5]))  # a header cell for each of a row's
  path.write_text("{not json\n")
  bad = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "table.py"), str(path)],
                       capture_output=True, text=True)
  assert bad.returncode != 0 and "rows.jsonl:1" in bad.stderr


def test_rows_carry_the_device_matmul_reference():
  """A train_speed row carries this device's measured matmul FLOP/s and the
  fraction of it the step reaches, computed from the row's own fields, which
  are themselves the step's: samples/s is batch x seq_len / step_s, the model
  FLOPs common.train_flops_per_sample's (rules out a reference missing on CPU
  rows, or a fraction of some other figure, e.g. steps/s taken for samples/s),
  and the config's rnn_unroll it ran, and the compiled step's own scratch
  memory (temp_bytes, below the process's peak_memory_bytes, which an
  earlier, larger row sets: rules out the process's peak written there), and
  the timed steps' cost and finiteness (rules out a row that cannot show a
  kernel computing the wrong thing), and, asked for no earlier form, the
  library's form of every piece (rules out a default that traces and labels
  a baseline). Only the arithmetic is checked: no timing is asserted."""
  import train_speed
  config, n = common.load_config("tiny")
  config.batch_size, config.seq_len, config.rnn_unroll = 2, 64, 2
  row = train_speed.measure(config, n, n_steps=1, baseline=False)
  assert row["rnn_unroll"] == 2
  ref = row["device_matmul_flops_per_s"]
  assert ref > 0
  assert row["fraction_of_matmul"] == pytest.approx(
      row["model_flops_per_sample"] * row["samples_per_s"] / ref, rel=1e-12)
  assert row["samples_per_s"] == pytest.approx(2 * 64 / row["step_s"], rel=1e-12)
  assert row["model_flops_per_sample"] == pytest.approx(
      common.train_flops_per_sample(config, n), rel=1e-12)
  assert common.fraction_of(10.0, 3.0, 60.0, devices=2) == pytest.approx(0.25)
  assert isinstance(row["temp_bytes"], int) and row["temp_bytes"] > 0  # the row's own memory
  assert row["temp_bytes"] < row["peak_memory_bytes"]  # not the process's peak
  # no form asked for: every piece traced (and named) as the library's own
  assert {k: row[k] for k in ("grad_matmuls", "loss_grad", "rnn_grad", "relu_grad")} == {
      "grad_matmuls": "dtype", "loss_grad": "vjp", "rnn_grad": "written", "relu_grad": "output"}
  # a fresh model on random levels: about 8-9 bits (log2 of 256 levels is 8)
  assert row["nonfinite_step"] == -1 and 6 < row["train_bits"] < 12


def test_a_failing_setting_is_a_row_and_the_next_settings_run(monkeypatch, capsys):
  """train_speed.py: a setting whose measurement raises (on a lent GPU, a
  kernel that does not compile) gives a row naming the setting and the
  error, the settings after it still run, and the script exits 1 at the
  end. Rules out the first failure ending the command (and with it the
  rows of every later setting in the device call's few minutes) and a
  failure that exits 0 unnoticed."""
  import train_speed

  def measure(config, n_classes, n_steps, baseline, profile="", form=None):
    if config.rnn_unroll == 1:
      raise RuntimeError("Triton compile failed")
    return {"rnn_unroll": config.rnn_unroll, "step_s": 1.0}

  monkeypatch.setattr(train_speed, "measure", measure)
  with pytest.raises(SystemExit, match="^error: 1 setting"):
    train_speed.main(["--configs", "tiny", "--batch_sizes", "2", "--rnn_unroll", "1",
                      "--rnn_unroll", "2"])
  out = capsys.readouterr()
  rows = [json.loads(l) for l in out.out.splitlines() if l.startswith("{")]
  assert [(r["rnn_unroll"], r.get("error")) for r in rows] == [
      (1, "RuntimeError: Triton compile failed"), (2, None)]
  assert rows[0]["batch_size"] == 2 and rows[0]["config"] == "tiny"
  assert "Traceback" in out.err
  train_speed.main(["--configs", "tiny", "--batch_sizes", "2", "--rnn_unroll", "2"])  # exit 0


def _tiny_bf16_step(sample_l1):
  """(a fresh-trace maker, state, batch) of the tiny config's bf16 step, B=2, T=64."""
  config, n = common.load_config("tiny")
  config.batch_size, config.seq_len = 2, 64
  config.dtype, config.sample_l1 = "bfloat16", sample_l1
  model = config_lib.build_model(config, n)
  tx = steps.make_optimizer(config)
  state = steps.init_state(model, tx, jax.random.key(0), 2, 64)
  batch = {"chunk": np.zeros((2, 64 + 16), np.int32), "mask": np.ones((2, 64), np.float32),
           "sid": np.zeros(2, np.int32), "reset": np.ones(2, bool)}
  # a fresh callable per trace, as measure() builds (a reused one would
  # return its cached trace)
  return lambda: functools.partial(steps.train_step, model, tx), state, batch, config


def test_rnn_and_relu_baselines_bring_back_autodiffs_forms():
  """``--rnn_grad autodiff`` traces the step with autodiff's GRU backward,
  whose loops hold the weight-gradient matmuls (4 dots in each backward scan
  against the written gradient's 2, the forward scans 2 in both);
  ``--relu_grad autodiff`` brings back float32 ReLU masks over the sample
  tier's [B, T, H] activations (two, one a hidden layer) that
  ``precision.relu_to`` does not have; the library's functions are back
  after each block, also one left by an exception (a setting whose compile
  fails). Rules out a baseline that traces the new code (a ratio of 1 by
  construction) or a swap that leaks into later rows (a swap undone only
  when its block ends normally)."""
  import baselines
  from samplernn_jax import gru, precision
  fresh, state, batch, config = _tiny_bf16_step("table_mm")
  library = (gru.gru_scan, precision.relu_to, precision.low_precision)

  def traced(form):
    with baselines.traced_as(form):
      return jax.make_jaxpr(fresh())(state, batch).jaxpr

  def scan_dots(jaxpr):
    return sorted(sum(x.primitive.name == "dot_general"
                      for x in nested_eqns(e.params["jaxpr"].jaxpr))
                  for e in nested_eqns(jaxpr) if e.primitive.name == "scan")

  def f32_masks(jaxpr):
    return sum(e.primitive.name in ("gt", "ge") and str(e.invars[0].aval.dtype) == "float32"
               and e.invars[0].aval.size == 2 * 64 * config.dim for e in nested_eqns(jaxpr))
  n = config.n_rnn
  assert scan_dots(traced({"rnn_grad": "written"})) == [2] * 2 * n
  assert scan_dots(traced({"rnn_grad": "autodiff"})) == [2] * n + [4] * n
  assert f32_masks(traced({"relu_grad": "output"})) == 0
  assert f32_masks(traced({"relu_grad": "autodiff"})) == 2
  assert (gru.gru_scan, precision.relu_to, precision.low_precision) == library
  with pytest.raises(RuntimeError, match="^compile failed$"):  # measure() raising in its block
    with baselines.traced_as({"rnn_grad": "autodiff", "relu_grad": "autodiff"}):
      raise RuntimeError("compile failed")
  assert (gru.gru_scan, precision.relu_to, precision.low_precision) == library
  with pytest.raises(ValueError, match="rnn_grad='scan'"):
    with baselines.traced_as({"rnn_grad": "scan"}):
      pass


def test_train_speed_autodiff_baseline_is_the_float32_backward():
  """train_speed's ``--grad_matmuls autodiff`` (the same-run baseline of the
  bf16 backward) traces the bf16 step with float32-cotangent backward dots,
  and ``dtype`` with bf16 ones only; ``--loss_grad autodiff`` (the baseline
  of the loss's written-out gradient) adds the scatter into the logits that
  ``vjp`` does not have; the library's functions are back after each block.
  Rules out a baseline that measures the new code twice (a ratio of 1 by
  construction) or a swap that leaks into later rows."""
  import baselines
  from samplernn_jax import precision
  fresh, state, batch, _ = _tiny_bf16_step("matmul")
  dots = {}
  for kind in ("autodiff", "dtype"):
    with baselines.grad_matmuls(kind):
      dots[kind] = set(dot_operand_dtypes(jax.make_jaxpr(fresh())(state, batch).jaxpr))
  assert ("float32", "bfloat16") in dots["autodiff"] or (
      "bfloat16", "float32") in dots["autodiff"], dots["autodiff"]
  assert dots["dtype"] == {("bfloat16", "bfloat16")}
  assert precision.matmul is not precision.dot
  # --loss_grad: 'autodiff' brings back the scatter into the logits, 'vjp' has none
  scatters = {}
  for kind in ("autodiff", "vjp"):
    with baselines.loss_grad(kind):
      jaxpr = jax.make_jaxpr(fresh())(state, batch).jaxpr
    scatters[kind] = sum(e.primitive.name.startswith("scatter") for e in nested_eqns(jaxpr))
  # the matmul form's embedding gradient is one scatter in both
  assert scatters == {"autodiff": 2, "vjp": 1}, scatters
  assert steps.log_probs is model_lib.log_probs


# A GPU-shaped module: no '%' prefixes, a cuBLAS gemm inside a command buffer
# (a call), a Triton-style fused dot, loops nested through a call.
GPU_HLO = """HloModule m

fused_dot (p0: f32[4,8], p1: f32[8,8]) -> f32[4,8] {
  p0 = f32[4,8]{1,0} parameter(0)
  p1 = f32[8,8]{1,0} parameter(1)
  ROOT d = f32[4,8]{1,0} dot(p0, p1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

command_buffer (a: f32[4,8], w: f32[8,8]) -> f32[4,8] {
  a = f32[4,8]{1,0} parameter(0)
  w = f32[8,8]{1,0} parameter(1)
  e = f32[4,8]{1,0} fusion(a), kind=kLoop, calls=fused_add
  g = (f32[4,8]{1,0}, s8[0]{0}) custom-call(e, w), custom_call_target="__cublas$gemm"
  ROOT r = f32[4,8]{1,0} get-tuple-element(g), index=0
}

step_body (p: (s32[], f32[4,8])) -> (s32[], f32[4,8]) {
  p = (s32[], f32[4,8]{1,0}) parameter(0)
  x = f32[4,8]{1,0} get-tuple-element(p), index=1
  y = f32[4,8]{1,0} fusion(x), kind=kLoop, calls=fused_add
  z = f32[4,8]{1,0} copy(y)
  ROOT t = (s32[], f32[4,8]{1,0}) tuple(i, z)
}

noise_body (p: (s32[], u32[4])) -> (s32[], u32[4]) {
  p = (s32[], u32[4]{0}) parameter(0)
  ROOT q = (s32[], u32[4]{0}) fusion(p), kind=kLoop, calls=fused_round
}

noise (k: u32[4]) -> u32[4] {
  k = u32[4]{0} parameter(0)
  ROOT n = (s32[], u32[4]{0}) while(k), condition=c3, body=noise_body
}

frame_body (p: (s32[], f32[4,8])) -> (s32[], f32[4,8]) {
  p = (s32[], f32[4,8]{1,0}) parameter(0)
  c = f32[4,8]{1,0} call(a, w), to_apply=command_buffer
  f = f32[4,8]{1,0} fusion(c, w), kind=kCustom, calls=fused_dot
  n = u32[4]{0} call(k), to_apply=noise
  s = (s32[], f32[4,8]{1,0}) while(t0), condition=c2, body=step_body, backend_config={"known_trip_count":{"n":"16"}}
  ROOT t = (s32[], f32[4,8]{1,0}) tuple(i, f)
}

ENTRY main (x: f32[4,8]) -> f32[4,8] {
  x = f32[4,8]{1,0} parameter(0)
  l = (s32[], f32[4,8]{1,0}) while(t), condition=c1, body=frame_body, backend_config={"known_trip_count":{"n":"2"}}
  ROOT r = f32[4,8]{1,0} get-tuple-element(l), index=1
}
"""


def test_hlo_loops_reads_a_gpu_shaped_module():
  """hlo_loops on a hand-written module shaped as XLA:GPU prints one: the
  frame loop's operations include its command buffer's (a call: a fusion
  and a cuBLAS gemm) and its fused dot (3), it runs a matmul (found inside
  the call and the fusion), the step loop and the noise loop (reached
  through a call) are nested in it at depth 1, and one frame runs
  3 + 16 x 2 + 1 x 1 operations, the noise loop's unknown trip count
  flagged. A gemm custom-call alone is a matmul, and so is a dot in a loop
  nested in the frame loop only. Rules out calls counted as one operation
  (command buffers would hide their kernels), matmuls found only as bare
  dots (a GPU's are custom-calls and fusions; a gemm custom-call not taken
  for one), a loop whose matmul runs in a loop nested in it taken for one
  without (sampler_ops' frame loop is the outermost with a matmul), loops
  under a call taken for outer ones, and unknown trip counts passed off as
  known."""
  import hlo_loops
  by_body = {l["body"]: l for l in hlo_loops.loops(GPU_HLO)}
  frame, step, noise = by_body["frame_body"], by_body["step_body"], by_body["noise_body"]
  assert (frame["depth"], frame["trips"], frame["ops"]) == (0, 2, 3)
  assert frame["by_kind"] == {"custom-call": 1, "fusion": 2} and frame["has_matmul"]
  assert (step["depth"], step["trips"], step["ops"], step["has_matmul"]) == (1, 16, 2, False)
  assert (noise["depth"], noise["trips"], noise["ops"]) == (1, None, 1)
  assert step["enclosing"] == noise["enclosing"] == "frame_body"
  assert hlo_loops.nested_ops(frame, list(by_body.values())) == (16 * 2 + 1, False)
  has_matmul = lambda hlo: {l["body"]: l["has_matmul"] for l in hlo_loops.loops(hlo)}
  gemm_only = GPU_HLO.replace("calls=fused_dot", "calls=fused_add")  # the frame's: a gemm
  assert has_matmul(gemm_only) == {"frame_body": True, "step_body": False, "noise_body": False}
  in_step = gemm_only.replace('"__cublas$gemm"', '"__cub$sort"').replace(
      "y = f32[4,8]{1,0} fusion(x), kind=kLoop, calls=fused_add",
      "y = f32[4,8]{1,0} fusion(x), kind=kCustom, calls=fused_dot")  # a dot in the step loop only
  assert has_matmul(in_step) == {"frame_body": True, "step_body": True, "noise_body": False}
  assert not any(has_matmul(in_step.replace("calls=fused_dot", "calls=fused_add")).values())


def test_sampler_ops_reads_the_loops_of_the_compiled_sampler():
  """sampler_ops.py counts the operations of the compiled sampler's loops:
  the loop over top frames runs the block's two trips in every setting, the
  sample steps' loop nested in it 16 trips at unroll 1 and 8 at unroll 2,
  and the batched draws run fewer operations per sample than the per-step
  form (XLA:CPU, measured: 26 against 195 at unroll 1, most of the
  difference the per-step threefry loop nested in the step loop). Rules out
  a parser that misses nested loops, or those nested two deep (the per-step
  form would count as cheap), takes another loop for the top frames', or
  ignores a setting. Operations per sample are those of a top frame over its
  S samples (rules out dividing by the block's 2 S: every figure halved,
  the comparisons unchanged). The whole block's kernels per sample are at
  least the loops' (it adds the loop conditions and the code around the
  loops); without --target there is no roofline."""
  out = subprocess.run(
      [sys.executable, os.path.join(REPO, "benchmarks", "sampler_ops.py"), "--configs", "tiny",
       "--unroll", "1", "--unroll", "2", "--draws", "frame", "--draws", "sample"],
      capture_output=True, text=True, check=True, timeout=300).stdout
  rows = {(r["draws"], r["unroll"]): r for r in map(json.loads, out.splitlines())
          if r.get("config") == "tiny"}
  assert sorted(rows) == [("frame", 1), ("frame", 2), ("sample", 1), ("sample", 2)]
  assert all(r["frame_loop"]["trips"] == 2 for r in rows.values())
  for draws in ("frame", "sample"):
    assert 16 in [l["trips"] for l in rows[draws, 1]["inner_loops"] if l["depth"] == 1]
    assert 8 in [l["trips"] for l in rows[draws, 2]["inner_loops"] if l["depth"] == 1]
  for unroll in (1, 2):
    assert rows["frame", unroll]["ops_per_sample"] < rows["sample", unroll]["ops_per_sample"]
  # counting loops nested two deep: 195 / 26; one deep only: 35 / 26
  assert rows["sample", 1]["ops_per_sample"] > 4 * rows["frame", 1]["ops_per_sample"]
  top_frame = config_lib.frame_sizes(common.load_config("tiny")[0])[0]  # S samples
  for r in rows.values():  # the whole block: the loops' work and what is around them
    assert r["ops_per_top_frame"] > r["frame_loop"]["ops"]  # the nested loops' counted
    assert r["ops_per_sample"] == pytest.approx(r["ops_per_top_frame"] / top_frame, rel=1e-12)
    assert r["block_kernels_per_sample"] >= r["ops_per_sample"]
    assert r["block_bytes_per_sample"] > 0 and r["block_roofline_us_per_sample"] is None
    moved = [t["launches"] * t["bytes_per_launch"] for t in r["block_top"]]  # by bytes moved
    assert len(moved) == 10 and moved == sorted(moved, reverse=True)


def test_sample_speed_profile_traces_the_first_row_for_profile_table(tmp_path):
  """sample_speed.py --profile writes one jax.profiler trace (of the first
  row; two --unroll and two --draws settings, four rows here, each drawing
  the first's samples) that profile_table.py reads into per-op rows
  with device time. Rules out a flag that is accepted but writes nothing (the
  README's generation profile step would find no trace), a trace per row,
  and a trace without the device's (here: XLA CPU threads') events."""
  import gzip
  import profile_table
  # a subprocess: sample_speed's absl flags share names with train_speed's,
  # which another test of this file imports
  out = subprocess.run(
      [sys.executable, os.path.join(REPO, "benchmarks", "sample_speed.py"), "--configs",
       "tiny", "--batches", "1", "--seconds", "0.01", "--baseline_seconds", "0",
       "--unroll", "1", "--unroll", "2", "--draws", "frame", "--draws", "sample",
       "--profile", str(tmp_path)],
      capture_output=True, text=True, check=True, timeout=300).stdout
  rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
  assert [(r["unroll"], r["draws"]) for r in rows] == [
      (1, "frame"), (2, "frame"), (1, "sample"), (2, "sample")]
  assert all(r["same_samples_as_first"] for r in rows[1:])
  traces = list(tmp_path.glob("**/*.trace.json.gz"))
  assert len(traces) == 1
  with gzip.open(profile_table.newest_trace(str(tmp_path)), "rt") as f:
    events = profile_table.device_events(json.load(f))
  table = profile_table.op_table(events, top=5)
  assert events and table and table[0]["total_ms"] > 0


def test_profile_table_sums_device_time_per_op():
  """profile_table.py counts only the device's events (a GPU process's kernels,
  named by their HLO op when the trace gives it), sums each op's time and
  orders the largest first. Rules out host events (Python, dispatch) counted
  as device time, one row per call instead of per op, and shares that do not
  add up to the device time."""
  import profile_table
  meta = lambda pid, tid, kind, name: {"ph": "M", "pid": pid, "tid": tid, "name": kind,
                                       "args": {"name": name}}
  x = lambda pid, name, dur, op=None: {"ph": "X", "pid": pid, "tid": 1, "name": name,
                                       "dur": dur, "args": {"hlo_op": op} if op else {}}
  trace = {"traceEvents": [
      meta(1, 1, "process_name", "/host:CPU"), meta(2, 1, "process_name", "/device:GPU:0"),
      x(1, "PjitFunction(train_step)", 5000.0),                 # host: not device time
      x(2, "fusion_kernel_a", 300.0, "fusion.1"), x(2, "fusion_kernel_a", 100.0, "fusion.1"),
      x(2, "gemm", 500.0, "dot.7"), x(2, "copy", 100.0)]}
  rows = profile_table.op_table(profile_table.device_events(trace), top=10)
  assert [r["op"] for r in rows] == ["dot.7", "fusion.1", "copy"]
  assert [r["calls"] for r in rows] == [1, 2, 1]
  assert rows[1]["total_ms"] == 0.4 and rows[1]["mean_us"] == 200.0
  assert sum(r["share"] for r in rows) == pytest.approx(1.0)
  assert rows[0]["share"] == pytest.approx(500 / 1000)
  assert len(profile_table.op_table(profile_table.device_events(trace), top=2)) == 2
  # A row names the kernel and, where the trace says it, the JAX operation.
  trace["traceEvents"][3]["args"]["tf_op"] = "jit(train_step)/dot_general"
  rows = profile_table.op_table(profile_table.device_events(trace), top=10)
  assert rows[1]["kernel"] == "fusion_kernel_a" and rows[0]["kernel"] == "gemm"
  assert rows[1]["tf_op"] == "jit(train_step)/dot_general" and "kernel" not in rows[2]


def test_profile_table_counts_each_moment_of_device_time_once():
  """A GPU trace's derived lines ("XLA Modules": one event a program run,
  "XLA Ops": one an operation) repeat the time of its stream's kernels, and
  a CPU trace's executor event wraps the operations it runs: profile_table
  counts the stream's kernels only, and on a CPU the events that hold no
  other. Rules out shares that add up to two or three times the device time
  (a module's row above every kernel's, each op counted twice)."""
  import profile_table
  meta = lambda pid, tid, kind, name: {"ph": "M", "pid": pid, "tid": tid, "name": kind,
                                       "args": {"name": name}}
  x = lambda pid, tid, name, ts, dur, op=None: {
      "ph": "X", "pid": pid, "tid": tid, "name": name, "ts": ts, "dur": dur,
      "args": {"hlo_op": op} if op else {}}
  gpu = {"traceEvents": [
      meta(2, 0, "process_name", "/device:GPU:0"), meta(2, 1, "thread_name", "Stream #14(Compute)"),
      meta(2, 2, "thread_name", "XLA Modules"), meta(2, 3, "thread_name", "XLA Ops"),
      x(2, 1, "gemm_kernel", 0.0, 600.0, "dot.7"), x(2, 1, "loop_fusion", 600.0, 400.0, "fusion.1"),
      x(2, 2, "jit_train_step", 0.0, 1000.0), x(2, 3, "dot.7", 0.0, 600.0),
      x(2, 3, "fusion.1", 600.0, 400.0)]}
  rows = profile_table.op_table(profile_table.device_events(gpu), top=10)
  assert [(r["op"], r["total_ms"]) for r in rows] == [("dot.7", 0.6), ("fusion.1", 0.4)]
  cpu = {"traceEvents": [
      meta(1, 0, "process_name", "/host:CPU"), meta(1, 5, "thread_name", "tf_XLACpu/1"),
      x(1, 5, "ThunkExecutor::Execute", 0.0, 1000.0), x(1, 5, "dot.7", 0.0, 700.0),
      x(1, 5, "fusion.1", 700.0, 250.0), x(1, 5, "wait", 1000.0, 50.0)]}
  rows = profile_table.op_table(profile_table.device_events(cpu), top=10)
  assert sorted((r["op"], r["total_ms"]) for r in rows) == [
      ("dot.7", 0.7), ("fusion.1", 0.25), ("wait", 0.05)]
  assert sum(r["share"] for r in rows) == pytest.approx(1.0)
