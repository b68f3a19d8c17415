"""The pretrained demo model in demo/.

It must load into the current model code (a change of the model's shape
fails here: retrain the demo with the command in demo/README.md), its valid
and test costs in its README must be those of demo/clip_bits.json, and the
current code must give that file's cost on two of its clips.
"""
import json
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest
import soundfile as sf

from conftest import load_sample_py
from samplernn_jax import data as data_lib
from samplernn_jax import cost, metrics, sample_files, sharding, steps, trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "demo")


def readme_value(key):
  text = open(os.path.join(DEMO, "README.md")).read()
  m = re.search(rf"^\|\s*{key}\s*\|\s*([^|]+?)\s*\|", text, re.M)
  assert m, f"demo/README.md has no '| {key} | ... |' row"
  return m.group(1)


@pytest.fixture(scope="module")
def demo():
  return sample_files.load_checkpoint(DEMO, "best")


def test_demo_checkpoint_fits_current_model(demo):
  """Every parameter of demo/best has the path, shape and dtype of the current model's abstract
  parameters for the demo's config, and its step is the one demo/README.md gives. Rules out a
  change of the model code (a parameter added, renamed or resized) without retraining the
  demo, parameters stored in another dtype, and a README naming another step."""
  template = steps.abstract_params(demo.model, demo.config.seq_len)
  got = jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype)), demo.params)
  want = jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype)), template)
  assert jax.tree.structure(got) == jax.tree.structure(want)
  assert got == want
  assert demo.step == int(readme_value("step"))


def test_demo_valid_and_test_bits_match_readme():
  """The demo's valid and test costs in its README are the means of the
  per-clip costs in demo/clip_bits.json (every clip of the bundled splits
  listed, within 1e-3 bits). Rules out figures of another checkpoint or of
  other splits left in the README."""
  with open(os.path.join(DEMO, "clip_bits.json")) as f:
    clip_bits = json.load(f)
  dataset = data_lib.open_dataset(os.path.join(ROOT, "data", "default"), 0)
  for split, key in ((dataset.valid, "valid"), (dataset.test, "test")):
    assert len(clip_bits[key]) == split.num_clips
    mean = sum(clip_bits[key]) / split.num_clips
    assert abs(mean - float(readme_value(key + "_bits"))) < 1e-3, (key, mean)


def test_demo_costs_what_clip_bits_json_says_on_two_clips(demo):
  """The current code and checkpoint give the cost demo/clip_bits.json
  records (scripts/demo_clip_bits.py) on two clips, the first of class 0 in
  valid and of class 3 in test, within 1e-4 bits. Rules out a checkpoint
  swapped without its figures, and a change of the model code that changes
  its function (every clip's cost would move; a class read off by one moves
  both). Two clips, not all 33: the whole of both splits took about 2
  minutes of the suite, four clips 19 s."""
  with open(os.path.join(DEMO, "clip_bits.json")) as f:
    clip_bits = json.load(f)
  config = demo.config.copy_and_resolve_references()
  dataset = data_lib.open_dataset(config.data_dir, 0)
  first = lambda sp, c: int(np.nonzero(sp.sid == c)[0][0])  # first clip of class c
  rows = [(dataset.valid, "valid", first(dataset.valid, 0)),
          (dataset.test, "test", first(dataset.test, 3))]
  wav = np.stack([sp.wav[i] for sp, _, i in rows])
  sid = np.array([sp.sid[i] for sp, _, i in rows], np.int32)
  assert sid.tolist() == [0, 3]
  config.eval_batch_size = len(rows)
  evaluator = cost.Evaluator(demo.model, config, sharding.make_mesh())
  bits = evaluator(demo.params, data_lib.Split("two clips", wav, sid), "two clips")
  want = float(np.mean([clip_bits[key][i] for _, key, i in rows]))
  assert abs(bits - want) < 1e-4, (bits, want)


def test_the_evaluator_refuses_a_class_the_model_does_not_have(demo):
  """Scoring an in-memory split whose class index is the model's class
  count or more: a DataError naming the split and the class, before any
  computation. Rules out scoring those clips as unconditioned (one_hot of
  an out-of-range index is the zero vector), a plausible but wrong cost."""
  config = demo.config.copy_and_resolve_references()
  config.eval_batch_size = 1
  evaluator = cost.Evaluator(demo.model, config, sharding.make_mesh())
  n = demo.model.n_classes
  split = data_lib.Split("mine", np.zeros((1, 4096), np.float32), np.array([n], np.int32))
  with pytest.raises(data_lib.DataError, match=rf"^mine: key 'sid' holds class {n}; "
                     rf"expected 0 \.\. {n - 1}"):
    evaluator(demo.params, split)


def test_sample_demo_writes_every_class(tmp_path):
  """sample.py --demo with one 0.05 s clip a class exits 0 and writes exactly one
  <class>_000.wav (name made file-safe) for each of the demo's classes, each at 16 kHz,
  800 samples long and finite. Rules out --demo sampling only some classes, files
  named by class index, and output at another rate or length."""
  out = tmp_path / "demo_out"
  r = subprocess.run([sys.executable, os.path.join(ROOT, "sample.py"), "--demo",
                      "--out", str(out), "--per_class", "1", "--seconds", "0.05",
                      "--no_progress"], capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr
  names = sample_files.load_checkpoint(DEMO, "best").class_names
  wavs = sorted(f for f in os.listdir(out) if f.endswith(".wav"))
  assert wavs == sorted(f"{sample_files.safe_name(n)}_000.wav" for n in names)
  for wav in wavs:
    audio, rate = sf.read(os.path.join(out, wav))
    assert rate == 16000 and len(audio) == 800 and np.isfinite(audio).all(), wav


def test_the_package_docstring_recipe_gives_what_sample_py_writes(tmp_path, monkeypatch):
  """The recipe in ``samplernn_jax``'s docstring (the demo's rain as numpy,
  no files), run as printed from the repository root, gives exactly the
  clip ``write_samples`` writes with sample.py's defaults for that request
  and seed. Rules out a recipe that no longer runs (a renamed function or
  argument) or that plays something other than what sample.py would (its
  temperature, level or class vector)."""
  import textwrap
  import samplernn_jax
  code = textwrap.dedent(samplernn_jax.__doc__.split("::\n", 1)[1].split("\n\n")[0])
  monkeypatch.chdir(ROOT)
  scope = {}
  exec(code, scope)  # noqa: S102 - the documented recipe itself
  loaded = scope["loaded"]
  request = sample_files.make_request(loaded.class_names, "rain", 1, None)
  sample_files.write_samples(loaded, str(tmp_path), request, 1.0)
  written, rate = sf.read(str(tmp_path / "rain_000.wav"), dtype="float32")
  assert rate == 16000
  np.testing.assert_array_equal(scope["audio"][0], written)


def test_demo_with_workdir_is_an_error(tmp_path, capsys):
  """--demo and --workdir together: exit 2 and one line saying why (sample.py's
  main in this process; test_sample_demo_writes_every_class runs the script).
  Rules out --workdir silently ignored, or --demo ignored for it."""
  with pytest.raises(SystemExit) as exit_:
    load_sample_py().main(["--demo", "--workdir", str(tmp_path)])
  assert exit_.value.code == 2
  assert ("error: --demo samples the bundled demo model; it takes no --workdir"
          in capsys.readouterr().err)


def test_default_data_loads_and_default_config_trains(tmp_path):
  """The bundled recordings pack, load with their class names, and train
  with the default config's data handling (the quiet cut, classes balanced)
  on them. At dim 64: the default model's own function is held by
  test_demo_costs_what_clip_bits_json_says_on_two_clips (default.py is
  demo.py), and its width only multiplied this test's time (49 s at 256).
  Rules out bundled data the default run cannot read, classes missing from
  train, and a training loop that breaks on real recordings."""
  from samplernn_jax import config as config_lib
  config = config_lib.load_config_file(os.path.join(ROOT, "configs", "default.py"))
  dataset = data_lib.open_dataset(config.data_dir, 0)
  folders = sorted(e for e in os.listdir(os.path.join(ROOT, "data", "default"))
                   if not e.startswith("."))
  assert dataset.class_names == folders
  assert dataset.n_classes >= 4
  assert dataset.train.clip_len == 128000 and dataset.train.wav.dtype == np.float16
  assert set(np.unique(dataset.train.sid)) == set(range(dataset.n_classes))
  # A few steps at a smaller batch and longer chunks (fewer, cheaper steps);
  # one clip of each evaluated split (a clip is 31 chunks of 4096 samples).
  config.batch_size, config.eval_batch_size, config.seq_len, config.dim = 4, 1, 4096, 64
  config.max_steps, config.eval_every_steps, config.max_eval_clips = 4, 4, 1
  config.log_every_steps = 2
  last = trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert np.isfinite(last["train_bits"]) and np.isfinite(last["valid_bits"])
  records = [r for r in metrics.read_metrics(str(tmp_path / "run")) if "train_bits" in r]
  assert records[-1]["train_bits"] < records[0]["train_bits"]
