"""The static profile of a compiled program: benchmarks/hlo_kernels.py,
train_kernels.py and the deviceless GPU compilation behind their --target.

hlo_kernels reads kernels, bytes and FLOPs from optimised HLO text; a
hand-written module pins each rule to a number worked out by hand, and the
compiled tiny train step's matmul FLOPs are checked against the analytic
count the MFU figures rest on. Nothing here times anything.
"""
import importlib.util
import json
import os
import subprocess
import sys

import jax.numpy as jnp
import pytest

from conftest import REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import common  # noqa: E402
import deviceless  # noqa: E402
import hlo_kernels  # noqa: E402

# XLA:GPU-shaped: a loop of 64 trips whose body slices one row of a [64, 16]
# buffer (a fusion reading it through a bitcast and a slice of a slice) and
# writes one row in place; a Triton-style gemm fusion; a command buffer (a
# call) holding a cuBLAS gemm with its workspace; operand lists with XLA's
# /*index=N*/ markers; a slice at a fusion's root; an update that is not the
# fusion's result; an async copy.
MODULE = """HloModule m

fused_row (p0: f32[64,16], p1: s32[], p2: f32[16], p3: f32[16], p4: f32[16], p5: f32[64,16]) -> f32[16] {
  p0 = f32[64,16]{1,0} parameter(0)
  p1 = s32[] parameter(1)
  z = s32[] constant(0)
  ds = f32[1,16]{1,0} dynamic-slice(p0, p1, z), dynamic_slice_sizes={1,16}
  b = f32[16]{0} bitcast(ds)
  p2 = f32[16]{0} parameter(2)
  p3 = f32[16]{0} parameter(3)
  p4 = f32[16]{0} parameter(4)
  p5 = f32[64,16]{1,0} parameter(5)
  half = f32[32,16]{1,0} slice(p5), slice={[0:32], [0:16]}
  row = f32[1,16]{1,0} dynamic-slice(half, p1, z), dynamic_slice_sizes={1,16}
  rb = f32[16]{0} bitcast(row)
  a = f32[16]{0} add(b, p2)
  c = f32[16]{0} add(a, rb)
  e = f32[16]{0} add(c, p4)
  ROOT r = f32[16]{0} multiply(e, p3)
}

fused_put (q0: f32[64,16], q1: f32[16], q2: s32[]) -> f32[64,16] {
  q0 = f32[64,16]{1,0} parameter(0)
  q1 = f32[16]{0} parameter(1)
  u = f32[1,16]{1,0} bitcast(q1)
  q2 = s32[] parameter(2)
  z = s32[] constant(0)
  ROOT d = f32[64,16]{1,0} dynamic-update-slice(q0, u, q2, z)
}

fused_gemm (g0: bf16[32,8], g1: bf16[8,16]) -> f32[32,16] {
  g0 = bf16[32,8]{1,0} parameter(0)
  g1 = bf16[8,16]{1,0} parameter(1)
  ROOT dot = f32[32,16]{1,0} dot(g0, g1), lhs_contracting_dims={1}, rhs_contracting_dims={0}, metadata={op_name="jit(f)/hidden1/dot_general"}
}

fused_cmp (c0: s32[]) -> pred[] {
  c0 = s32[] parameter(0)
  n = s32[] constant(64)
  ROOT lt = pred[] compare(c0, n), direction=LT
}

fused_tail (t0: f32[64,16]) -> f32[8,16] {
  t0 = f32[64,16]{1,0} parameter(0)
  ROOT t = f32[8,16]{1,0} slice(t0), slice={[0:8], [0:16]}
}

fused_neg_put (n0: f32[64,16], n1: f32[1,16], n2: s32[]) -> f32[64,16] {
  n0 = f32[64,16]{1,0} parameter(0)
  n1 = f32[1,16]{1,0} parameter(1)
  n2 = s32[] parameter(2)
  z = s32[] constant(0)
  d = f32[64,16]{1,0} dynamic-update-slice(n0, n1, n2, z)
  ROOT g = f32[64,16]{1,0} negate(d)
}

command_buffer (a: f32[4,6], w: f32[6,8]) -> f32[4,8] {
  a = f32[4,6]{1,0} parameter(0)
  w = f32[6,8]{1,0} parameter(1)
  g = (f32[4,8]{1,0}, s8[4096]{0}) custom-call(a, w), custom_call_target="__cublas$gemm", backend_config={"gemm_backend_config":{"dot_dimension_numbers":{"lhs_contracting_dimensions":["1"],"rhs_contracting_dimensions":["0"]}}}
  ROOT r = f32[4,8]{1,0} get-tuple-element(g), index=0
}

cond (cp: (s32[], f32[64,16], f32[16])) -> pred[] {
  cp = (s32[], f32[64,16]{1,0}, f32[16]{0}) parameter(0)
  ci = s32[] get-tuple-element(cp), index=0
  ROOT cl = pred[] fusion(ci), kind=kLoop, calls=fused_cmp
}

body (bp: (s32[], f32[64,16], f32[16])) -> (s32[], f32[64,16], f32[16]) {
  bp = (s32[], f32[64,16]{1,0}, f32[16]{0}) parameter(0)
  i = s32[] get-tuple-element(bp), index=0
  buf = f32[64,16]{1,0} get-tuple-element(bp), index=1
  v = f32[16]{0} get-tuple-element(bp), index=2
  row = f32[16]{0} fusion(buf, i, v, v, v, /*index=5*/buf), kind=kLoop, calls=fused_row, metadata={op_name="jit(f)/while/body/add"}
  put = f32[64,16]{1,0} fusion(buf, row, i), kind=kLoop, calls=fused_put
  ROOT t = (s32[], f32[64,16]{1,0}, f32[16]{0}) tuple(i, put, v)
}

ENTRY main (x: bf16[32,8], w: bf16[8,16], a: f32[4,6], b: f32[6,8], s: (s32[], f32[64,16], f32[16]), m: f32[64,16], k: s32[], r1: f32[1,16]) -> f32[32,16] {
  x = bf16[32,8]{1,0} parameter(0)
  w = bf16[8,16]{1,0} parameter(1)
  a = f32[4,6]{1,0} parameter(2)
  b = f32[6,8]{1,0} parameter(3)
  s = (s32[], f32[64,16]{1,0}, f32[16]{0}) parameter(4)
  m = f32[64,16]{1,0} parameter(5)
  k = s32[] parameter(6)
  r1 = f32[1,16]{1,0} parameter(7)
  l = (s32[], f32[64,16]{1,0}, f32[16]{0}) while(s), condition=cond, body=body, backend_config={"known_trip_count":{"n":"64"}}
  cb = f32[4,8]{1,0} call(a, b), to_apply=command_buffer
  tail = f32[8,16]{1,0} fusion(m), kind=kLoop, calls=fused_tail
  np = f32[64,16]{1,0} fusion(m, r1, k), kind=kLoop, calls=fused_neg_put
  cs = (f32[64,16]{1,0}, f32[64,16]{1,0}, u32[]) copy-start(m)
  cd = f32[64,16]{1,0} copy-done(cs)
  ROOT y = f32[32,16]{1,0} fusion(x, w), kind=kCustom, calls=fused_gemm, metadata={op_name="jit(f)/hidden1/dot_general"}
}
"""

# A loop of 3 trips whose body calls a command buffer (one copy) and runs a
# loop of 4 trips nested in it (one negate); an unfused dynamic-slice and
# dynamic-update-slice of one row of a [64, 16] buffer.
NESTED = """HloModule k

cond (c: (s32[], f32[16])) -> pred[] {
  c = (s32[], f32[16]{0}) parameter(0)
  i = s32[] get-tuple-element(c), index=0
  ROOT lt = pred[] compare(i, i), direction=LT
}

inner (p: (s32[], f32[16])) -> (s32[], f32[16]) {
  p = (s32[], f32[16]{0}) parameter(0)
  i = s32[] get-tuple-element(p), index=0
  v = f32[16]{0} get-tuple-element(p), index=1
  n = f32[16]{0} negate(v)
  ROOT t = (s32[], f32[16]{0}) tuple(i, n)
}

command_buffer (a: f32[16]) -> f32[16] {
  a = f32[16]{0} parameter(0)
  ROOT cp = f32[16]{0} copy(a)
}

outer (q: (s32[], f32[16])) -> (s32[], f32[16]) {
  q = (s32[], f32[16]{0}) parameter(0)
  i = s32[] get-tuple-element(q), index=0
  v = f32[16]{0} get-tuple-element(q), index=1
  cb = f32[16]{0} call(v), to_apply=command_buffer
  s = (s32[], f32[16]{0}) tuple(i, cb)
  ROOT l = (s32[], f32[16]{0}) while(s), condition=cond, body=inner, backend_config={"known_trip_count":{"n":"4"}}
}

ENTRY main (s: (s32[], f32[16]), m: f32[64,16], r1: f32[1,16], k: s32[]) -> (s32[], f32[16]) {
  s = (s32[], f32[16]{0}) parameter(0)
  m = f32[64,16]{1,0} parameter(1)
  r1 = f32[1,16]{1,0} parameter(2)
  k = s32[] parameter(3)
  z = s32[] constant(0)
  ds = f32[1,16]{1,0} dynamic-slice(m, k, z), dynamic_slice_sizes={1,16}
  dus = f32[64,16]{1,0} dynamic-update-slice(m, r1, k, z)
  ROOT l = (s32[], f32[16]{0}) while(s), condition=cond, body=outer, backend_config={"known_trip_count":{"n":"3"}}
}
"""

# A loop of unknown trips and a conditional of a small and a large branch.
INEXACT = """HloModule n

small (a: f32[16]) -> f32[16] {
  a = f32[16]{0} parameter(0)
  ROOT c = f32[16]{0} copy(a)
}

large (b: f32[64,16]) -> f32[64,16] {
  b = f32[64,16]{1,0} parameter(0)
  ROOT c = f32[64,16]{1,0} copy(b)
}

cond (p: (s32[], f32[16])) -> pred[] {
  p = (s32[], f32[16]{0}) parameter(0)
  i = s32[] get-tuple-element(p), index=0
  ROOT lt = pred[] compare(i, i), direction=LT
}

body (p: (s32[], f32[16])) -> (s32[], f32[16]) {
  p = (s32[], f32[16]{0}) parameter(0)
  i = s32[] get-tuple-element(p), index=0
  v = f32[16]{0} get-tuple-element(p), index=1
  n = f32[16]{0} negate(v)
  ROOT t = (s32[], f32[16]{0}) tuple(i, n)
}

ENTRY main (s: (s32[], f32[16]), j: s32[], u: f32[16], m: f32[64,16]) -> f32[16] {
  s = (s32[], f32[16]{0}) parameter(0)
  j = s32[] parameter(1)
  u = f32[16]{0} parameter(2)
  m = f32[64,16]{1,0} parameter(3)
  l = (s32[], f32[16]{0}) while(s), condition=cond, body=body
  c = f32[16]{0} conditional(j, u, m), branch_computations={small, large}
  ROOT r = f32[16]{0} get-tuple-element(l), index=1
}
"""


def test_hlo_kernels_reads_bytes_flops_and_launches_of_a_gpu_shaped_module():
  """Every number worked out by hand. The loop's row fusion reads a 64-byte
  row of each [64, 16] buffer (one through a slice then a dynamic-slice, one
  found as operand 5 after a /*index=5*/ marker), the index and three
  vectors, and writes 64 bytes: 64 + 4 + 3 x 64 + 64 + 64 = 388; the
  in-place update reads the row and the index and writes the row: 64 + 4 +
  64 = 132; each runs 64 times and the condition not at all (the trip count
  is known). The gemm fusion does 2 x 32 x 16 x 8 FLOPs on bf16 operands and
  moves 512 + 256 + 2048 bytes; the cuBLAS gemm in the command buffer
  2 x 4 x 8 x 6 FLOPs, its workspace not counted as memory traffic. A slice
  at a fusion's root reads its 512 bytes and writes them; an update that is
  negated afterwards is no in-place write (4096 + 64 + 4 read, 4096
  written); an async copy is one kernel (its start: 4096 + 4096). Rules out
  whole buffers counted for a slice (the loop's traffic x64), a root slice
  read as nothing, in-place updates taken for copies or assumed where the
  update is consumed, markers shifting the operand-to-parameter match, loop
  bodies counted once, conditions counted when XLA:GPU skips them, calls
  left unexpanded, async pairs counted twice, and FLOPs from the result's
  shape alone. In NESTED, a command buffer called in a loop of 3 trips runs
  3 times and a loop of 4 trips nested in it 12 (64 + 64 bytes each), and
  an unfused dynamic-slice moves its row (64 + 64), an unfused update its
  row and two indices (64 + 4 + 4 + 64): rules out a call, or a nested
  loop's body, counted per run of the module (or of its own loop only)
  rather than per trip of every loop around it, and those two ops counted
  whole (4096 read)."""
  ks, exact = hlo_kernels.kernels(MODULE)
  by_name = {k["name"]: k for k in ks}
  assert exact and sorted(by_name) == ["cs", "g", "np", "put", "row", "tail", "y"]
  assert (by_name["row"]["bytes"], by_name["row"]["count"]) == (388, 64)
  assert (by_name["put"]["bytes"], by_name["put"]["count"]) == (132, 64)
  assert by_name["tail"]["bytes"] == 512 + 512
  assert by_name["np"]["bytes"] == 4096 + 64 + 4 + 4096
  assert by_name["cs"]["bytes"] == 4096 + 4096
  y, g = by_name["y"], by_name["g"]
  assert (y["kind"], y["flops"], y["dtype"], y["bytes"]) == ("gemm", 8192.0, "bf16", 2816)
  assert (g["kind"], g["flops"], g["dtype"], g["bytes"]) == ("gemm", 384.0, "f32", 96 + 192 + 128)
  assert y["source"] == "jit(f)/hidden1/dot_general"
  assert all(k["unread_dots"] == 0 for k in ks)
  ks, exact = hlo_kernels.kernels(NESTED)
  assert exact and {(k["name"], k["bytes"]): k["count"] for k in ks} == {
      ("cp", 128): 3, ("n", 128): 12, ("ds", 64 + 64): 1, ("dus", 64 + 4 + 4 + 64): 1}


def test_hlo_kernels_counts_unknown_loops_and_conditionals_as_inexact():
  """A loop without a known trip count runs its body once and its
  condition twice in the count, a conditional its branch that moves the
  most bytes (the large copy, not both and not the small one), and the
  counts say they are not exact, each of the two alone (the module less
  the other). Rules out conditional branches dropped or summed, and
  unknown trip counts (or a conditional) passed off as known: the other
  one of the two must not be what makes the counts inexact."""
  ks, exact = hlo_kernels.kernels(INEXACT)
  counts = {(k["name"], k["bytes"]): k["count"] for k in ks}
  assert not exact
  assert counts == {("n", 128): 1, ("lt", 4 + 4 + 1): 2, ("c", 8192): 1}
  loop = "  l = (s32[], f32[16]{0}) while(s), condition=cond, body=body\n"
  cond = "  c = f32[16]{0} conditional(j, u, m), branch_computations={small, large}\n"
  assert INEXACT.count(loop) == INEXACT.count(cond) == 1
  for text, want in [(INEXACT.replace(cond, ""), {("n", 128): 1, ("lt", 4 + 4 + 1): 2}),
                     (INEXACT.replace(loop, ""), {("c", 8192): 1})]:
    ks, exact = hlo_kernels.kernels(text)
    assert not exact and {(k["name"], k["bytes"]): k["count"] for k in ks} == want


def test_hlo_kernels_summary_sums_counts_and_rooflines():
  """summary() totals the kernels times their launch counts and, for a
  target, takes each kernel's roofline as the slower of its bytes at the
  bandwidth and its FLOPs at its dtype's peak: with 1 byte/s and 1 FLOP/s
  (bf16) or 0.5 (f32), the gemm fusion costs max(2816, 8192) and the cuBLAS
  gemm max(416, 768); ``top`` gives bytes per launch and the roofline of
  all launches, and without a target ranks by the bytes of all launches
  (the same three, not the async copy's 8192 in one launch). Rules out
  launches counted once per kernel (in the totals or the untargeted
  ranking train_kernels.py prints), the bf16 peak used for float32
  operands, and a sum of bytes and FLOP times instead of their maximum."""
  target = {"bytes_per_s": 1.0, "bf16_flops": 1.0, "f32_flops": 0.5}
  s = hlo_kernels.summary(MODULE, target, top=3)
  other = 1024 + 8260 + 8192  # the root slice, the consumed update, the async copy
  assert s["kernels"] == 64 + 64 + 1 + 1 + 3
  assert s["bytes"] == 64 * 388 + 64 * 132 + 2816 + 416 + other
  assert s["matmul_flops"] == 8192 + 384 and s["counts_exact"] and s["unread_dots"] == 0
  assert s["by_kind"]["gemm"]["roofline_s"] == 8192 + 768
  assert s["roofline_s"] == 64 * 388 + 64 * 132 + 8192 + 768 + other
  assert [t["roofline_s"] for t in s["top"]] == [64 * 388, 64 * 132, 8260]
  assert [(t["launches"], t["bytes_per_launch"]) for t in s["top"]] == [
      (64, 388), (64, 132), (1, 8260)]
  plain = hlo_kernels.summary(MODULE, None, top=3)
  assert "roofline_s" not in plain
  assert [(t["launches"], t["bytes_per_launch"]) for t in plain["top"]] == [
      (64, 388), (64, 132), (1, 8260)]


def test_train_kernels_counts_the_compiled_steps_matmul_flops():
  """train_kernels.py compiles the real train step (here for this CPU) and
  counts its matmul FLOPs from the optimised HLO: within 1% of
  common.train_flops_per_sample x batch x seq_len, the analytic count MFU
  rests on (measured: 0.998; the step skips the input gradient of the first
  layers, whose inputs are data). Rules out a FLOP count that misses dots
  inside fusions or loops (the RNN scans), counts the backward's dots once,
  or reads the wrong contracting dimension, and a script that ignores
  --sample_l1 (the table form runs a third fewer matmul FLOPs)."""
  out = subprocess.run(
      [sys.executable, os.path.join(REPO, "benchmarks", "train_kernels.py"), "--configs",
       "tiny", "--sample_l1", "matmul", "--sample_l1", "table", "--top", "3"],
      capture_output=True, text=True, check=True, timeout=300).stdout
  rows = {r["sample_l1"]: r for r in map(json.loads, out.splitlines())}
  config, n = common.load_config("tiny")
  r = rows["matmul"]
  analytic = common.train_flops_per_sample(config, n) * r["batch_size"] * r["seq_len"]
  assert 0.99 * analytic < r["matmul_flops_per_step"] <= analytic
  assert rows["table"]["matmul_flops_per_step"] < 0.8 * r["matmul_flops_per_step"]
  assert r["kernels_per_step"] > 100 and r["counts_exact"] and r["unread_dots"] == 0
  assert r["roofline_s"] is None and len(r["top"]) == 3  # no target: no roofline


def test_deviceless_target_configs_and_the_missing_plugin_error():
  """Each target's XLA config names its device and bandwidth; an unknown
  target is refused by name; without jax's CUDA plugin, devices() fails
  saying how to install it (run in a fresh process: it pins JAX to the
  CPU). Rules out an H200 compiled as an H100 (XLA's fusion heuristics read
  the bandwidth) and a bare plugin error that leaves the user guessing."""
  h200 = deviceless.target_config("h200")
  assert 'device_description_str: "NVIDIA H200"' in h200
  assert "memory_bandwidth: 4800000000000" in h200
  assert "memory_bandwidth: 3350000000000" in deviceless.target_config("h100")
  with pytest.raises(ValueError, match="'a100'"):
    deviceless.target_config("a100")
  if importlib.util.find_spec("jax_plugins") is not None:
    pytest.skip("jax's CUDA plugin is installed here")
  proc = subprocess.run(
      [sys.executable, "-c", "import deviceless; deviceless.devices('h200')"],
      cwd=os.path.join(REPO, "benchmarks"), capture_output=True, text=True, timeout=120)
  assert proc.returncode != 0 and "gpu_compile_env.sh" in proc.stderr


# Two Pallas (Triton) calls on a [64, 16] buffer: one states its cost in its
# metadata (as jaxlib 0.10 prints it, quotes as \22), one does not.
PALLAS = r"""HloModule p

ENTRY main (t: s32[], m: f32[64,16]) -> (f32[64,16], f32[64,16]) {
  t = s32[] parameter(0)
  m = f32[64,16]{1,0} parameter(1)
  k1 = f32[64,16]{1,0} custom-call(t, m), custom_call_target="__gpu$xla.gpu.triton", output_to_operand_aliasing={{}: (1, {})}, backend_config={debug = false, grid_x = 4 : i32, name = "gru_cand", serialized_metadata = "{\22flops\22: \22512\22, \22bytes_accessed\22: \22192\22, \22dtype\22: \22bf16\22}"}
  k2 = f32[64,16]{1,0} custom-call(t, m), custom_call_target="__gpu$xla.gpu.triton", backend_config={debug = false, grid_x = 4 : i32, name = "other"}
  ROOT r = (f32[64,16]{1,0}, f32[64,16]{1,0}) tuple(k1, k2)
}
"""


def test_hlo_kernels_takes_a_pallas_calls_stated_cost():
  """A Pallas call that states its FLOPs, bytes and dtype in its metadata
  (kernels.cost_metadata) is counted with them: a gemm of 512 bf16 FLOPs
  moving 192 bytes, not its whole operands and result (4 + 4096 + 4096);
  a call without them stays opaque (0 FLOPs, operands and result). Rules
  out the metadata ignored (a GRU frame kernel would count its [F, ...]
  buffers whole, F times too much), its escaped quotes misread, and a
  stated cost given to every call."""
  from samplernn_jax import kernels
  meta = kernels.cost_metadata(512.0, 192, jnp.bfloat16)
  assert meta == {"flops": "512", "bytes_accessed": "192", "dtype": "bf16"}
  by_name = {k["name"]: k for k in hlo_kernels.kernels(PALLAS)[0]}
  k1, k2 = by_name["k1"], by_name["k2"]
  assert (k1["kind"], k1["flops"], k1["bytes"], k1["dtype"]) == ("gemm", 512.0, 192.0, "bf16")
  assert (k2["flops"], k2["bytes"]) == (0.0, 4 + 4096 + 4096)


# A fusion that reads one [8, 16] frame of a [8, 4, 16] operand through a
# transpose and a slice (the sampler's conditioning vectors, one sample step
# of a frame), and one that transposes its operand whole.
TRANSPOSED = """HloModule t

fused_frame (p0: f32[8,64], p1: f32[8,16]) -> f32[8,16] {
  p0 = f32[8,64]{1,0} parameter(0)
  b = f32[8,4,16]{2,1,0} bitcast(p0)
  t = f32[4,8,16]{2,1,0} transpose(b), dimensions={1,0,2}
  s = f32[1,8,16]{2,1,0} slice(t), slice={[0:1], [0:8], [0:16]}
  r = f32[8,16]{1,0} bitcast(s)
  p1 = f32[8,16]{1,0} parameter(1)
  ROOT a = f32[8,16]{1,0} add(r, p1)
}

fused_whole (q0: f32[4,8]) -> f32[8,4] {
  q0 = f32[4,8]{1,0} parameter(0)
  ROOT t = f32[8,4]{1,0} transpose(q0), dimensions={1,0}
}

ENTRY main (x: f32[8,64], y: f32[8,16], z: f32[4,8]) -> (f32[8,16], f32[8,4]) {
  x = f32[8,64]{1,0} parameter(0)
  y = f32[8,16]{1,0} parameter(1)
  z = f32[4,8]{1,0} parameter(2)
  f = f32[8,16]{1,0} fusion(x, y), kind=kLoop, calls=fused_frame
  w = f32[8,4]{1,0} fusion(z), kind=kLoop, calls=fused_whole
  ROOT tu = (f32[8,16]{1,0}, f32[8,4]{1,0}) tuple(f, w)
}
"""


def test_hlo_kernels_reads_a_slice_of_a_transposed_operand_as_the_slice():
  """A fusion that transposes an operand and slices one [8, 16] block of it
  reads that block (512 bytes), not the whole [8, 64] operand (2048), plus
  its other operand (512) and its result (512): 1536; a transpose that is
  the fusion's result reads its operand whole (128 + 128). Rules out the
  sampler's per-sample fusion counted as reading all 16 conditioning
  vectors of its frame in every sample step (2026-12-01: 20 of the 37 MB
  counted a step at 300 rows), and a transpose taken as a slice when
  nothing slices it."""
  ks, exact = hlo_kernels.kernels(TRANSPOSED)
  by_name = {k["name"]: k for k in ks}
  assert exact and sorted(by_name) == ["f", "w"]
  assert by_name["f"]["bytes"] == 512 + 512 + 512
  assert by_name["w"]["bytes"] == 128 + 128
