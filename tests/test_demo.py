"""The pretrained demo model in demo/ (issue 11).

It must load into the current model code (a change of the model's shape
fails here: retrain the demo with the command in demo/README.md), and its
valid cost on the bundled valid split must be what its README says.
"""
import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest
import soundfile as sf

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
  template = jax.eval_shape(lambda: steps.init_params(demo.model, jax.random.key(0),
                                                      demo.config.seq_len))
  got = jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype)), demo.params)
  want = jax.tree.map(lambda a: (tuple(a.shape), str(a.dtype)), template)
  assert jax.tree.structure(got) == jax.tree.structure(want)
  assert got == want
  assert demo.step == int(readme_value("step"))


def test_demo_valid_and_test_bits_match_readme(demo):
  """The demo's cost on the bundled valid and test splits is what its README
  states, within 1e-3 bits (rules out a checkpoint swapped without its
  figures, and a change of the model code that changes its function)."""
  config = demo.config.copy_and_resolve_references()
  dataset = data_lib.open_dataset(config.data_dir, 0)
  # One batch holds a whole split (17 and 16 clips): the config's 32 would be
  # half padding rows. Each clip's bits do not depend on its batch.
  config.eval_batch_size = max(dataset.valid.num_clips, dataset.test.num_clips)
  evaluator = cost.Evaluator(demo.model, config, sharding.make_mesh())
  for split, key in ((dataset.valid, "valid_bits"), (dataset.test, "test_bits")):
    bits = evaluator(demo.params, split, key.split("_")[0])
    assert abs(bits - float(readme_value(key))) < 1e-3, (key, bits)


def test_sample_demo_writes_every_class(tmp_path):
  out = tmp_path / "demo_out"
  r = subprocess.run([sys.executable, os.path.join(ROOT, "sample.py"), "--demo",
                      "--out", str(out), "--per_class", "1", "--seconds", "0.05",
                      "--no_progress"], capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr
  names = sample_files.load_checkpoint(DEMO, "best").class_names
  wavs = sorted(f for f in os.listdir(out) if f.endswith(".wav"))
  assert wavs == sorted(f"{sample_files.safe_name(n)}_000.wav" for n in names)
  audio, rate = sf.read(os.path.join(out, wavs[0]))
  assert rate == 16000 and len(audio) == 800 and np.isfinite(audio).all()


def test_demo_with_workdir_is_an_error(tmp_path):
  r = subprocess.run([sys.executable, os.path.join(ROOT, "sample.py"), "--demo",
                      "--workdir", str(tmp_path)], capture_output=True, text=True,
                     timeout=120)
  assert r.returncode == 2
  assert "--demo samples the bundled demo model; it takes no --workdir" in r.stderr


def test_default_data_loads_and_default_config_trains(tmp_path):
  """The bundled recordings pack, load with their class names, and train."""
  from samplernn_jax import config as config_lib
  config = config_lib.load_config_file(os.path.join(ROOT, "configs", "default.py"))
  dataset = data_lib.open_dataset(config.data_dir, 0)
  folders = sorted(e for e in os.listdir(os.path.join(ROOT, "data", "default"))
                   if not e.startswith("."))
  assert dataset.class_names == folders
  assert dataset.n_classes >= 4
  assert dataset.train.clip_len == 128000 and dataset.train.wav.dtype == np.float16
  assert set(np.unique(dataset.train.sid)) == set(range(dataset.n_classes))
  # A few steps at a smaller batch and longer chunks (fewer, cheaper steps).
  config.batch_size, config.eval_batch_size, config.seq_len = 4, 4, 4096
  config.max_steps, config.eval_every_steps, config.max_eval_clips = 4, 4, 4
  config.log_every_steps = 2
  last = trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert np.isfinite(last["train_bits"]) and np.isfinite(last["valid_bits"])
  records = [r for r in metrics.read_metrics(str(tmp_path / "run")) if "train_bits" in r]
  assert records[-1]["train_bits"] < records[0]["train_bits"]
