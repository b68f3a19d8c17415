"""scripts/import_theano_params.py and scripts/score.py, end to end.

The reference GRU case (tests/data/original_reference/gru.npz, from the
original Theano code) gives a parameter file as the original writes it (a
pickle of {name: ndarray}) and two clips. Imported into a workdir, the
checkpoint scores the clips at the reference's bits (score.py, the code of
validation), train.py's trainer resumes from it at step 0 with the
reference's cost of chunk 0, and it exports back to the same arrays. Bad
inputs end with exit code 2 and one line naming the problem; a refused import
writes nothing.

The scripts run as subprocesses (the independent runs start together, to keep
the file fast); the bad files and data go through ``cli.run`` in this process,
which is what the scripts wrap their library call in.
"""
import io
import json
import math
import os
import pickle
import pickletools
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import load_config_file, snapshot, subprocess_env
from samplernn_jax import checkpoint as ckpt_lib
from samplernn_jax import cli
from samplernn_jax import config as config_lib
from samplernn_jax import cost, theano_params
from samplernn_jax.metrics import read_metrics
from samplernn_jax.theano_params import ParamFormatError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REF = os.path.join(REPO, "tests", "data", "original_reference", "gru.npz")
IMPORTER = os.path.join(REPO, "scripts", "import_theano_params.py")
SCORER = os.path.join(REPO, "scripts", "score.py")
BATCH = 2  # the case's clips: one batch
TOL = 1e-4  # float32 against the original's float64 vectors


def load_ref():
  with np.load(REF, allow_pickle=False) as z:
    return {k: z[k] for k in z.files}


def case_overrides(ref):
  """The case's config.* keys as {key: value}, plus the batch of its clips."""
  out = {k[len("config."):]: v.item() for k, v in ref.items() if k.startswith("config.")}
  out["batch_size"] = BATCH
  return out


def config_flags(overrides):
  return [f"--config.{k}={v}" for k, v in overrides.items()]


def named_params(ref):
  return {k[len("param/"):]: v for k, v in ref.items() if k.startswith("param/")}


def write_pickle(path, named):
  with open(path, "wb") as f:
    pickle.dump(named, f, protocol=2)


def write_clips(path, wav, sid):
  np.savez(path, wav=np.asarray(wav, np.float16), sid=np.asarray(sid, np.uint8))


def import_cmd(src, workdir, overrides):
  return [sys.executable, IMPORTER, "--src", str(src), "--config",
          os.path.join(REPO, "configs", "tiny.py"), "--workdir", str(workdir)
          ] + config_flags(overrides)


def run_all(cmds):
  """Runs {name: argv} concurrently -> {name: (returncode, stdout, stderr)}."""
  procs = {name: subprocess.Popen(cmd, cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
           for name, cmd in cmds.items()}
  out = {}
  for name, p in procs.items():
    stdout, stderr = p.communicate(timeout=300)
    out[name] = (p.returncode, stdout, stderr)
  return out



@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  """Imports the reference's pickle, then runs every script case at once."""
  tmp = tmp_path_factory.mktemp("import_score")
  ref = load_ref()
  over = case_overrides(ref)
  named = named_params(ref)
  src = tmp / "params_ref.pkl"
  write_pickle(src, named)
  data = tmp / "clips.npz"
  write_clips(data, ref["wav"], ref["sid"])
  workdir = tmp / "run"
  rc, stdout, stderr = run_all({"import": import_cmd(src, workdir, over)})["import"]
  assert rc == 0, stderr
  before = snapshot(workdir)

  score = [sys.executable, SCORER, "--workdir", str(workdir), "--data", str(data)]
  cmds = {
      "score": score + ["--config.seq_len=%d" % over["seq_len"],
                        "--config.eval_batch_size=2"],
      "export": [sys.executable, IMPORTER, "--export", str(tmp / "exported.pkl"),
                 "--workdir", str(workdir)],
      "model_key": score + ["--config.dim=16"],
      "exists": import_cmd(src, workdir, over),
  }
  return {"tmp": tmp, "ref": ref, "over": over, "named": named, "workdir": workdir,
          "data": data, "import": (rc, stdout, stderr), "before": before,
          "runs": run_all(cmds)}


# ---------------------------------------------------------------------------
# The imported model.


def test_import_writes_step0_of_the_file(setup):
  """The import of the reference's pickle reports all its arrays and writes checkpoints/0 as the
  latest step, with meta step 0, no best valid, 3 classes and the case's config keys; its
  parameters map back to the pickle's arrays, exactly. Rules out an import at another step
  than 0, an array rounded or changed on the way in, and config overrides the meta does not
  record (score.py and a resume build the model from it)."""
  summary = json.loads(setup["import"][1])
  assert summary["arrays"] == len(setup["named"])
  workdir = str(setup["workdir"])
  assert ckpt_lib.find_step(workdir, "latest") == (ckpt_lib.LATEST, 0)
  params, meta = ckpt_lib.restore_params(workdir, ckpt_lib.LATEST, 0)
  assert meta["step"] == 0 and meta["best_valid"] is None
  assert meta["n_classes"] == 3 and len(meta["class_names"]) == 3
  for key, value in setup["over"].items():
    assert meta["config"][key] == value, key
  config = config_lib.from_saved(meta.get("config"), workdir)
  back = theano_params.to_original(params, config)
  assert sorted(back) == sorted(setup["named"])
  for name, value in setup["named"].items():
    np.testing.assert_array_equal(back[name], value, err_msg=name)


def test_score_equals_reference_bits(setup):
  """score.py prints one JSON line whose bits equal the original's mean -log2 p over both chunks
  of both clips (9.6366) within 1e-4 (float32 against float64), for 2 clips and 48 samples.
  Rules out a cost in nats, the first chunk alone scored (10.10 bits), and log lines on stdout
  that break a reader of the JSON."""
  rc, stdout, stderr = setup["runs"]["score"]
  assert rc == 0, stderr
  lines = stdout.strip().splitlines()
  assert len(lines) == 1
  result = json.loads(lines[0])
  ref = setup["ref"]
  expected = -np.concatenate([ref["logp0"], ref["logp1"]], axis=1).mean() / math.log(2)
  assert expected == pytest.approx(float(ref["bits"]), abs=1e-12)
  print(f"score.py bits {result['bits']!r}, reference {expected!r}")
  assert abs(result["bits"] - expected) < TOL
  assert result["clips"] == 2
  assert result["samples"] == ref["wav"].size == 48


def test_score_other_chunking_and_clip_limit(setup, monkeypatch):
  """Chunks of 24 (the whole clip) and only clip 0: that clip's reference
  bits, 1 clip, 24 samples, the evaluator's chunks 24 long; both clips in
  a batch of 4 (two rows of padding): the reference's bits of both. Rules
  out seq_len or max_eval_clips overrides ignored by score (all clips; two
  chunks carry the state, so only the chunk length shows the seq_len),
  the first chunk scored alone, and padding rows counted in the cost."""
  ref = setup["ref"]
  lengths = []
  real_eval_batches = cost.batches_lib.eval_batches

  def eval_batches(split, batch_size, seq_len, *args, **kwargs):
    lengths.append(seq_len)
    return real_eval_batches(split, batch_size, seq_len, *args, **kwargs)
  monkeypatch.setattr(cost.batches_lib, "eval_batches", eval_batches)
  result = cost.score(str(setup["workdir"]), str(setup["data"]), "latest",
                         {"seq_len": 24, "max_eval_clips": 1})
  expected = -np.concatenate([ref["logp0"][0], ref["logp1"][0]]).mean() / math.log(2)
  assert abs(result["bits"] - expected) < TOL
  assert (result["clips"], result["samples"]) == (1, 24)
  assert set(lengths) == {24}
  padded = cost.score(str(setup["workdir"]), str(setup["data"]), "latest",
                      {"seq_len": 24, "eval_batch_size": 4})
  both = -np.concatenate([ref["logp0"], ref["logp1"]], axis=1).mean() / math.log(2)
  assert abs(padded["bits"] - both) < TOL and padded["clips"] == 2


def load_tiny_config():
  return load_config_file(os.path.join(REPO, "configs", "tiny.py"))


def test_training_resumes_from_the_import(setup, tmp_path):
  """One train step from the imported state: its cost is chunk 0's reference
  bits and the run's latest checkpoint is step 1. Rules out a resume that
  starts from fresh parameters instead of the import (about 8 bits), and an
  import whose step 0 is not the step training continues from."""
  from samplernn_jax import trainer
  ref = setup["ref"]
  workdir = tmp_path / "run"
  shutil.copytree(setup["workdir"], workdir)
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  write_clips(data_dir / "audio_train.npz", ref["wav"], ref["sid"])
  config = load_tiny_config()
  for key, value in setup["over"].items():
    config[key] = value
  config.data_dir = str(data_dir)
  config.max_steps = 1
  config.log_every_steps = 1
  trainer.train_and_evaluate(config, str(workdir))
  (record,) = [r for r in read_metrics(str(workdir)) if "train_bits" in r]
  assert record["step"] == 1
  expected = -ref["logp0"].mean() / math.log(2)
  assert abs(record["train_bits"] - expected) < TOL
  assert ckpt_lib.find_step(str(workdir), "latest") == (ckpt_lib.LATEST, 1)


def portable_globals(data):
  """The names a pickle's GLOBAL opcodes load. Protocol 4's STACK_GLOBAL
  (which Python 2 cannot read, and whose names genops does not give) fails
  here rather than passing with none found."""
  ops = list(pickletools.genops(data))
  assert not any(op.name == "STACK_GLOBAL" for op, _, _ in ops)
  return {arg for op, arg, _ in ops if op.name == "GLOBAL"}


def test_export_gives_back_the_file(setup, tmp_path):
  """--export writes a pickle whose only globals are numpy.ndarray, numpy.dtype and
  _codecs.encode (names Python 2 and numpy 1.x resolve); plain pickle.load, read_original and
  an npz export all give back the original arrays, dtype and values; exporting onto an
  existing file raises FileExistsError. Rules out a pickle naming numpy._core (numpy 2 only),
  one of protocol 4 (its STACK_GLOBAL names no name for a check of GLOBALs to see, and
  Python 2 reads no protocol past 2), arrays exported in another dtype, and an export that
  overwrites."""
  rc, stdout, stderr = setup["runs"]["export"]
  assert rc == 0, stderr
  path = setup["tmp"] / "exported.pkl"
  data = path.read_bytes()
  # Protocol 2, and only names that Python 2 and numpy 1.x (the original's) can resolve.
  assert data[:2] == b"\x80\x02"
  names = portable_globals(data)
  assert "numpy ndarray" in names
  assert names <= {"numpy ndarray", "numpy dtype", "_codecs encode"}
  with open(path, "rb") as f:
    plain = pickle.load(f, encoding="latin1")  # no help from our reader
  npz = tmp_path / "exported.npz"
  theano_params.export_original(str(setup["workdir"]), str(npz), "0")
  for loaded in (plain, theano_params.read_original(str(path)), theano_params.read_original(str(npz))):
    assert sorted(loaded) == sorted(setup["named"])
    for name, value in setup["named"].items():
      assert loaded[name].dtype == value.dtype
      np.testing.assert_array_equal(loaded[name], value, err_msg=name)
  with pytest.raises(FileExistsError, match="already exists"):
    theano_params.export_original(str(setup["workdir"]), str(npz), "latest")


class Py2Pickler(pickle._Pickler):
  """Writes {name: ndarray} as Python 2's cPickle.dump (protocol 0) does.

  Python 2 strings are byte strings (STRING opcode) and numpy 1.x names its
  array constructor ``numpy.core.multiarray._reconstruct``.
  """
  dispatch = dict(pickle._Pickler.dispatch)

  def save_py2_str(self, obj):
    self.write(pickle.STRING + repr(obj)[1:].encode("ascii") + b"\n")
    self.memoize(obj)

  dispatch[bytes] = save_py2_str

  def save_global(self, obj, name=None):
    module = obj.__module__.replace("numpy._core", "numpy.core")
    self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
    self.memoize(obj)


def test_reads_a_python2_pickle(tmp_path):
  """read_original loads a pickle written as Python 2's cPickle writes it (protocol 0, byte-string
  keys and data, numpy.core.multiarray._reconstruct) into the original names and arrays,
  exactly. Rules out names left as bytes, and a load with pickle's default ASCII encoding,
  which fails on the arrays' raw bytes."""
  named = named_params(load_ref())
  buf = io.BytesIO()
  Py2Pickler(buf, protocol=0).dump({k.encode(): v for k, v in named.items()})
  assert b"cnumpy.core.multiarray\n_reconstruct" in buf.getvalue()
  path = tmp_path / "params_e0_i0.pkl"
  path.write_bytes(buf.getvalue())
  loaded = theano_params.read_original(str(path))
  assert sorted(loaded) == sorted(named)
  for name, value in named.items():
    np.testing.assert_array_equal(loaded[name], value, err_msg=name)


# ---------------------------------------------------------------------------
# Bad inputs: exit code 2, one clear line; a refused import writes nothing.


def check_refusal(rc, stdout, stderr, message):
  assert rc == 2, stderr
  lines = stderr.strip().splitlines()
  assert lines and lines[-1].startswith("error: "), stderr
  assert [l for l in lines if l.startswith("error: ")] == lines[-1:], stderr  # one error line
  assert message in lines[-1], stderr
  assert "Traceback" not in stderr
  assert stdout == ""


@pytest.mark.parametrize("case, message", [
    ("model_key", "error: config.dim changes the model; score.py takes the model from "
                  "the checkpoint's config"),
    ("exists", "already holds checkpoints"),
])
def test_bad_input_script(setup, case, message):
  """score.py given a model key (--config.dim=16), and a second import into a workdir holding
  checkpoints: each exits 2 with a last 'error:' line holding the case's message, nothing on
  stdout and no traceback. Rules out score.py taking the model override (then failing on the
  parameters' shapes, or scoring another model), an import over an existing run's
  checkpoints, and a traceback in place of the line."""
  check_refusal(*setup["runs"][case], message)


def test_refused_import_leaves_the_workdir_alone(setup):
  """After the refused second import (and the score and export runs beside it) every file of
  the workdir has the size and modification time it had after the import. Rules out a refused
  import that writes or rewrites anything (config, metrics, a checkpoint) before it refuses,
  and a score or export that writes into the workdir."""
  assert snapshot(setup["workdir"]) == setup["before"]


def run_cli(fn, capsys):
  """What a script does with a library call: (exit code, stdout, stderr)."""
  capsys.readouterr()
  try:
    cli.run(fn)
    rc = 0
  except SystemExit as e:
    rc = e.code
  out = capsys.readouterr()
  return rc, out.out, out.err


@pytest.mark.parametrize("case, message", [
    ("missing", "missing.pkl: parameter 'FrameLevel.GRU2.Step.Recurrent_Gates.g0' "
                "(ours: tier0/rnn1/recurrent_gates/scale, shape (16,)) is missing"),
    ("extra", "extra.pkl: parameter 'FrameLevel.GRU3.Step.Input.W0' is not part of "
              "a model with this config"),
    ("shape", "shape.pkl: parameter 'SampleLevel.L2.b' has shape (9,); the config "
              "needs (8,)"),
    ("code", "code.pkl: the pickle needs os.system"),
])
def test_bad_parameter_file(setup, tmp_path, capsys, case, message):
  """A parameter file with a parameter missing, one the config has no place for, one of the
  wrong shape, or a pickle that would run os.system: exit 2 with one line naming the file, the
  parameter (with our name and shape where missing) and the problem; no workdir made, the
  command never run. Rules out an unpickler that resolves any global, a missing array left at
  its initial value, an extra one ignored, and a workdir made before the check."""
  named = dict(setup["named"])
  if case == "missing":
    del named["FrameLevel.GRU2.Step.Recurrent_Gates.g0"]
  elif case == "extra":
    named["FrameLevel.GRU3.Step.Input.W0"] = named["FrameLevel.GRU2.Step.Input.W0"]
  elif case == "shape":
    named["SampleLevel.L2.b"] = np.zeros(9, np.float32)
  src = tmp_path / f"{case}.pkl"
  write_pickle(src, named)
  if case == "code":  # a pickle that would run a command
    src.write_bytes(b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode()
                    + b"'\ntR.")
  config = load_tiny_config()
  for key, value in setup["over"].items():
    config[key] = value
  workdir = tmp_path / "run"
  check_refusal(*run_cli(lambda: theano_params.import_original(str(src), config, str(workdir)),
                         capsys), message)
  assert not workdir.exists()
  assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("case, message", [
    ("no_checkpoint", "empty_run: no checkpoint"),
    ("no_wav", "no_wav.npz: missing key 'wav'"),
    ("bad_sid", "bad_sid.npz: key 'sid' holds class 3; expected 0 .. 2"),
    ("no_data", "nothing.npz: no such file"),
])
def test_bad_score_input(setup, tmp_path, capsys, case, message):
  """score (as score.py runs it) on an empty workdir, an npz without 'wav', an npz with class 3
  for a 3-class model, or a missing npz: exit 2 with one line naming the folder or file and
  the problem, no traceback. Rules out a KeyError or orbax traceback, and class 3 scored
  without a word (a one-hot of an out-of-range index is the zero vector)."""
  ref = setup["ref"]
  workdir, data = setup["workdir"], setup["data"]
  if case == "no_checkpoint":
    workdir = tmp_path / "empty_run"
    workdir.mkdir()
  elif case == "no_wav":
    data = tmp_path / "no_wav.npz"
    np.savez(data, audio=ref["wav"], sid=ref["sid"])
  elif case == "bad_sid":
    data = tmp_path / "bad_sid.npz"
    write_clips(data, ref["wav"], [0, 3])
  elif case == "no_data":
    data = tmp_path / "nothing.npz"
  check_refusal(*run_cli(lambda: cost.score(str(workdir), str(data)), capsys), message)


def test_refusals_in_the_library(setup, tmp_path):
  """The errors the scripts print come from the library, named by file or
  setting: a missing src before the class count (it was reported only once
  --n_classes was given), a negative --n_classes as itself (not 'is 0')."""
  config = load_tiny_config()
  for key, value in setup["over"].items():
    config[key] = value
  config.n_classes = 0
  with pytest.raises(ValueError, match=r"give the number of classes .* \(--n_classes N"):
    theano_params.import_original(str(setup["tmp"] / "params_ref.pkl"), config,
                            str(tmp_path / "a"))
  with pytest.raises(ValueError, match=r"^n_classes=-1: expected a positive class count"):
    theano_params.import_original(str(setup["tmp"] / "params_ref.pkl"), config,
                            str(tmp_path / "a"), n_classes=-1)
  with pytest.raises(FileNotFoundError, match=r"^src .*missing.pkl: no such file"):
    theano_params.import_original(str(tmp_path / "missing.pkl"), config, str(tmp_path / "a"))
  with pytest.raises(ValueError, match=r"^n_classes=4 but config.n_classes=3"):
    config.n_classes = 3
    theano_params.import_original(str(setup["tmp"] / "params_ref.pkl"), config,
                            str(tmp_path / "a"), n_classes=4)
  bad = tmp_path / "ints.npz"
  np.savez(bad, **{**setup["named"], "FrameLevel.h0": np.zeros((2, 8), np.int32)})
  with pytest.raises(ParamFormatError, match=r"ints.npz: parameter 'FrameLevel.h0' is an "
                                         r"array of int32; expected a float array"):
    theano_params.read_original(str(bad))
  with pytest.raises(ValueError, match=r"params.txt: unknown parameter file type"):
    theano_params.read_original(str(tmp_path / "params.txt"))
  with pytest.raises(FileNotFoundError, match="nope.pkl: no such file"):
    theano_params.read_original(str(tmp_path / "nope.pkl"))
  assert not (tmp_path / "a").exists()


def test_sample_py_generates_from_the_import(tmp_path):
  """The imported checkpoint generates through sample.py's code
  (``sample_files.load_checkpoint`` and ``write_samples``) at the paper's
  level, minmax; the default level 'class' is refused, naming the levels that
  work, because the original's parameter file records no loudness of the
  training clips. The import here takes its class count from --n_classes with
  a config whose n_classes is 0, as the README describes. Rules out an
  imported checkpoint that sample.py cannot load (meta without the config or
  class names) and a refusal that leaves the user without a way on."""
  import soundfile as sf
  from samplernn_jax import levels, sample_files
  ref = load_ref()
  src = tmp_path / "params.pkl"
  write_pickle(src, named_params(ref))
  config = load_tiny_config()
  for key, value in case_overrides(ref).items():
    config[key] = value
  config.n_classes = 0
  workdir = str(tmp_path / "run")
  theano_params.import_original(str(src), config, workdir, n_classes=3)

  loaded = sample_files.load_checkpoint(workdir)  # sample.py's --ckpt best: step 0
  assert loaded.step == 0 and len(loaded.class_names) == 3 and loaded.class_rms is None
  req = sample_files.make_request(loaded.class_names, None, 1, None)
  out = str(tmp_path / "samples")
  with pytest.raises(levels.LevelError, match="choose level 'minmax'"):
    sample_files.write_samples(loaded, out, req, 0.01, progress=False)
  paths = sample_files.write_samples(loaded, out, req, 0.01, level="minmax", progress=False)
  assert len(paths) == 3
  for path in paths:
    audio, rate = sf.read(path)
    assert rate == 16000 and len(audio) == 160
    assert audio.max() == pytest.approx(0.475, abs=1e-6)
    assert audio.min() == pytest.approx(-0.475, abs=1e-6)
