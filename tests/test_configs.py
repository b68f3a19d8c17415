"""Every configs/*.py loads, validates and builds; bad settings name their key.

The files are found by glob, so a new config is covered without editing this.
Building uses ``jax.eval_shape``: the paper-sized models allocate nothing.
"""
import ast
import glob
import os
import re

import jax
import pytest
from absl import flags
from ml_collections import config_flags

from conftest import REPO, load_config_file, readme_python_block
from samplernn_jax import config as config_lib
from samplernn_jax import steps, trainer

CONFIG_FILES = sorted(glob.glob(os.path.join(REPO, "configs", "*.py")))
NAMES = [os.path.basename(p)[:-3] for p in CONFIG_FILES]


def test_the_known_configs_are_found():
  """The glob over configs/*.py finds at least dcase2016.py and tiny.py. Rules out a glob (wrong
  folder or pattern) that finds nothing, under which the checks parametrized over
  CONFIG_FILES would be skipped with no case run."""
  assert {"dcase2016", "tiny"} <= set(NAMES)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=NAMES)
def test_config_loads_validates_and_builds(path):
  """Every configs/*.py file: the keys of base_config() (so an unknown
  --config.KEY is an error), valid, a model that builds, and a docstring
  that says how to run it. Rules out a config with a stray key and one that
  fails validation."""
  check_config_file(path)


def test_readmes_worked_example_is_a_config_these_checks_accept(tmp_path, monkeypatch):
  """The README's worked variant (configs/my_variant.py), saved as a user
  would save it, passes the checks every config file gets, and the trainer
  sets it up on the data it names (the checks train.py makes before its
  first step). Rules out an example that has drifted from base_config() or
  this test's rules, one that stops at "config.data_dir='datasets': no such
  folder" out of the box, and the example as it was: base_config()'s batch
  of 128 clips, more than the bundled data's 108 training clips."""
  block = readme_python_block("`configs/my_variant.py`:")
  path = tmp_path / "my_variant.py"
  path.write_text(block)
  check_config_file(str(path))
  config = load_config_file(str(path))
  monkeypatch.chdir(REPO)  # data_dir is relative to the checkout, as train.py runs
  setup = trainer.make_setup(config)
  assert setup.batches.batches_per_epoch >= 1 and setup.n_params > 1000


def check_config_file(path):
  config = load_config_file(path)
  # the same keys as base_config(): an unknown --config.KEY is then an error
  assert set(config.keys()) == set(config_lib.base_config().keys())
  config_lib.validate(config)
  n_classes = config.n_classes or 4  # 0 = from the data; any count builds
  model = config_lib.build_model(config, n_classes)
  shapes = steps.abstract_params(model, config.seq_len)
  n = sum(int(x.size) for x in jax.tree.leaves(shapes))
  assert n > 1000
  # the docstring says what the config is and how to run it
  with open(path) as f:
    source = f.read()
  assert source.lstrip().startswith('"""') and "train.py" in source.split('"""')[1]


@pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")  # ml_collections'
@pytest.mark.parametrize("path", CONFIG_FILES, ids=NAMES)
def test_config_loads_through_config_flags(path):
  """Each config file loads through ml_collections' config flag as train.py
  loads it, a --config.seed=7 override applied and every other key as the
  file sets it. Rules out a config file that only loads by import (a
  get_config taking arguments) and an override that does not reach it."""
  argv = ["prog", f"--config={path}", "--config.seed=7"]
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=fv, sys_argv=argv)
  fv(argv)
  config = fv.config
  assert config.seed == 7
  expected = load_config_file(path)
  expected.seed = 7
  assert config.to_dict() == expected.to_dict()


def tiny():
  return load_config_file(os.path.join(REPO, "configs", "tiny.py"))


BAD = [
    # (overrides, the key the message must name)
    (dict(frame_size=16, frame_sizes=(8, 2)), "config.frame_size=16"),
    (dict(frame_size=8, frame_sizes=(2, 8)), "config.frame_sizes=(2, 8)"),
    (dict(frame_size=8, frame_sizes=(8, 3)), "config.frame_sizes=(8, 3)"),
    (dict(frame_size=16, seq_len=100), "config.seq_len=100"),
    (dict(rnn_type="gru"), "config.rnn_type='gru'"),
    (dict(n_rnn=0), "config.n_rnn=0"),
    (dict(n_rnn=9), "config.n_rnn=9: expected 1 .. 8"),
    (dict(frame_size=8, frame_sizes=(8, 8)), "config.frame_sizes=(8, 8): expected decreasing"),
    (dict(trim_quiet=float("inf")), "config.trim_quiet=inf"),
    (dict(cond_dropout=1.0), "config.cond_dropout=1.0: expected 0 <= p < 1"),
    (dict(cond_dropout=-0.1), "config.cond_dropout=-0.1: expected 0 <= p < 1"),
    (dict(cond_dropout=float("nan")), "config.cond_dropout=nan: expected 0 <= p < 1"),
    (dict(trim_quiet=-1.0), "config.trim_quiet=-1.0: expected a finite number >= 0"),
    (dict(q_type="ulaw"), "config.q_type='ulaw'"),
    (dict(sample_input="raw"), "config.sample_input='raw'"),
    (dict(cond_type="embedding", cond_emb_size=0), "config.cond_emb_size"),
    # a size for an embedding the one-hot conditioning never builds: silently unused before
    (dict(cond_emb_size=32), "config.cond_emb_size=32"),
    (dict(dtype="float16"), "config.dtype='float16'"),
    (dict(dim=0), "config.dim=0"),
    (dict(batch_size=0), "config.batch_size=0"),
    (dict(learning_rate=0.0), "config.learning_rate=0.0"),
    # used as step divisors (a ZeroDivisionError after the first step before)
    (dict(log_every_steps=0), "config.log_every_steps=0"),
    (dict(checkpoint_every_steps=0), "config.checkpoint_every_steps=0"),
    (dict(keep_checkpoints=0), "config.keep_checkpoints=0"),
    (dict(sample_rate=0), "config.sample_rate=0: expected a positive integer"),
    (dict(rnn_unroll=0), "config.rnn_unroll=0"),
    # 0 is a default or off; a negative value ran (every step an evaluation,
    # "nothing to do" for max_steps) or failed only at the first evaluation
    (dict(eval_every_steps=-1), "config.eval_every_steps=-1"),
    (dict(max_steps=-5), "config.max_steps=-5"),
    (dict(num_epochs=-1), "config.num_epochs=-1"),
    (dict(eval_batch_size=-2), "config.eval_batch_size=-2"),
    (dict(max_eval_clips=-1), "config.max_eval_clips=-1"),
    (dict(sample_every_evals=-1), "config.sample_every_evals=-1"),
    (dict(grad_clip=-1.0), "config.grad_clip=-1.0"),
    (dict(sample_per_class=0), "config.sample_per_class=0"),
    (dict(sample_seconds=0.0), "config.sample_seconds=0.0"),
    # accepted before, then failed (or did nothing) later: 0 epochs trained
    # nothing and exited 0; a negative seed failed in numpy without the key's
    # name; samples below one sample or of infinite length stopped the run
    # at its first evaluation with samples
    (dict(num_epochs=0), "config.num_epochs=0: expected a positive integer"),
    (dict(seed=-1), "config.seed=-1: expected an integer 0 .. 2**63 - 1"),
    (dict(n_classes=-1), "config.n_classes=-1: expected a finite number >= 0"),
    # NaN fails every comparison, so "x < 0" let it through: a NaN learning
    # rate trained to a non-finite loss, a NaN grad_clip turned clipping off;
    # a negative emb_size and a seed past int64 failed in JAX with tracebacks
    (dict(learning_rate=float("nan")), "config.learning_rate=nan: expected a finite number"),
    (dict(learning_rate=float("inf")), "config.learning_rate=inf"),
    (dict(grad_clip=float("nan")), "config.grad_clip=nan: expected a finite number >= 0"),
    (dict(grad_clip=float("inf")), "config.grad_clip=inf: expected a finite number >= 0"),
    (dict(trim_quiet=float("nan")), "config.trim_quiet=nan"),
    (dict(emb_size=-5), "config.emb_size=-5"),
    (dict(seed=2 ** 63), "config.seed=9223372036854775808"),
    (dict(sample_seconds=1e-5), "config.sample_seconds=1e-05: expected a finite length of "
                                "at least one sample at config.sample_rate=16000"),
    (dict(sample_seconds=float("inf")), "config.sample_seconds=inf"),
    # past 16-bit audio: accepted, then a step did not finish in five minutes
    (dict(q_levels=2 ** 16 + 1), "config.q_levels=65537: expected 2 .. 65536"),
    (dict(q_levels=1), "config.q_levels=1: expected 2 .. 65536"),
]


def test_build_model_names_what_it_lacks_or_refuses():
  """build_model with n_classes 0 and none given says how to give them, and a
  model_cls that is not a SampleRNN (a tier class, by mistake) is refused
  naming model_cls; a SampleRNN subclass is built as itself. Rules out a
  bare failure deep in flax and a model_cls ignored."""
  from samplernn_jax.model import SampleRNN, SampleTier
  config = tiny()
  config.n_classes = 0
  with pytest.raises(ValueError, match="config.n_classes is 0: pass n_classes"):
    config_lib.build_model(config)
  with pytest.raises(TypeError, match="model_cls=.*SampleTier.*expected SampleRNN"):
    config_lib.build_model(config, 3, SampleTier)

  class Mine(SampleRNN):
    pass

  model = config_lib.build_model(config, 3, Mine)
  assert type(model) is Mine and model.n_classes == 3


@pytest.mark.parametrize("overrides,key", BAD, ids=[b[1] for b in BAD])
def test_bad_setting_names_its_key(overrides, key):
  """Each of the 49 BAD settings (sizes and counts out of range, NaN and inf, unknown names,
  frame sizes that disagree) makes validate raise a ValueError holding 'config.KEY=value' (and
  the expected range where the case gives it), and build_model raises too. Rules out a bound
  that lets the value through (NaN passes 'x < 0'), a message that does not name the key, and
  a build_model that skips validation."""
  config = tiny()
  config.update(overrides)
  with pytest.raises(ValueError) as err:
    config_lib.validate(config)
  assert key in str(err.value)
  with pytest.raises(ValueError):  # build_model validates too
    config_lib.build_model(config, 4)


@pytest.mark.parametrize("overrides", [
    dict(n_rnn=1), dict(n_rnn=8), dict(sample_per_class=1),
    dict(sample_seconds=1 / 16000),  # one sample exactly
    dict(cond_type="embedding", cond_emb_size=1),
    dict(frame_size=2, frame_sizes=(2, 1), seq_len=2),  # a bottom frame of one sample
    dict(n_classes=1), dict(trim_quiet=0.0), dict(seed=2 ** 63 - 1),
    dict(q_levels=2), dict(q_levels=2 ** 16),
], ids=repr)
def test_the_smallest_and_largest_legal_values_are_accepted(overrides):
  """Each setting at the edge of what validate accepts (one layer or eight,
  one clip a class, one sample of audio, a class embedding of one number, a
  tier of frame size 1 and a chunk of one frame, one class, trimming off, the
  largest seed, two levels or 16-bit audio's) validates and builds. Rules out bounds one step too tight
  (``< 1`` written ``<= 1``, ``>= 1`` written ``> 1``), which the refusals
  above cannot tell from the right ones."""
  config = tiny()
  config.update(overrides)
  config_lib.validate(config)
  config_lib.build_model(config, config.n_classes or 4)


def test_frame_sizes_that_agree_with_frame_size_are_fine():
  """frame_size 8 with frame_sizes (8, 2) and seq_len 64 validates, frame_sizes() gives (8, 2)
  and the model is built with tiers of 8 and 2. Rules out a check that refuses any explicit
  frame_sizes once frame_size is set (the mirror of the BAD cases), and frame_sizes() falling
  back to (frame_size,) when the tuple is given."""
  config = tiny()
  config.update(dict(frame_size=8, frame_sizes=(8, 2), seq_len=64))
  config_lib.validate(config)
  assert config_lib.frame_sizes(config) == (8, 2)
  assert config_lib.build_model(config, 4).frame_sizes == (8, 2)


def test_sample_l1_auto_picks_the_faster_form_per_backend(monkeypatch):
  """The default sample_l1 'auto' builds the look-up-table form on a CPU and
  the matmul on a GPU (the faster of the two on each, benchmarks/README.md),
  while an explicit choice is kept on any backend. Rules out 'auto' left
  unresolved (the model would silently run the matmul everywhere) or
  resolved the wrong way round."""
  config = config_lib.base_config()
  config.n_classes = 3
  assert config.sample_l1 == "auto"
  assert config_lib.build_model(config).l1_impl == ("table" if jax.default_backend() == "cpu"
                                                    else "matmul")
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  assert config_lib.build_model(config).l1_impl == "matmul"
  monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
  assert config_lib.build_model(config).l1_impl == "table"
  for explicit in ("matmul", "table"):
    config.sample_l1 = explicit
    assert config_lib.build_model(config).l1_impl == explicit
  config.sample_l1 = "lut"
  with pytest.raises(ValueError, match=r"config.sample_l1='lut': expected one of"):
    config_lib.validate(config)


def test_slow_scatter_warning_names_the_affected_jax_and_the_way_out():
  """config.slow_scatter_warning (logged by train.py) fires only for a GPU
  backend, a jax in [0.10.2, 0.11.1) (CUDA float32 scatter-adds as
  compare-and-swap loops) and a form whose look-up gradient scatters
  ('matmul', 'table'; 'auto' resolving to the matmul on a GPU); the message
  names the version, the setting and the remedy. Rules out a warning on
  every GPU run, on fixed or older jax (0.10.1, 0.11.1, 0.11.2.dev), on a
  CPU or a ROCm GPU, for the scatter-free 'table_mm' or for real-valued
  sample input."""
  config = config_lib.base_config()
  warn = lambda backend="gpu", version="0.10.2", platform="cuda 12040": (
      config_lib.slow_scatter_warning(config, backend, version, platform))
  for version in ("0.10.2", "0.11.0", "0.11.0rc1"):
    message = warn(version=version)
    assert message and f"jax {version}" in message, version
    assert "config.sample_l1='matmul'" in message and "table_mm" in message
    assert "0.11.1" in message
  for version in ("0.10.1", "0.11.1", "0.11.2.dev20261101", "0.6.0"):
    assert warn(version=version) is None, version
  assert warn(backend="cpu") is None
  assert warn(platform="rocm 60300") is None  # the NVPTX change is CUDA's
  config.sample_l1 = "table"
  assert "config.sample_l1='table'" in warn()
  config.sample_l1 = "table_mm"
  assert warn() is None
  config.sample_l1, config.sample_input = "matmul", "real"
  assert warn() is None


def test_base_config_holds_the_papers_values():
  """base_config() (which every configs/*.py starts from) has the paper's
  value of each flag in the README's table, written out here, not read from
  the library: frame size 16, 64 frames (seq_len 1024), dim 1024, 3 GRU
  layers, a 256-wide sample embedding, no skip connections, weight norm,
  learned h0, 256 linear levels, batch 128, Adam at 1e-3, an element-wise
  clip of 1, the class one-hot at the frame tier, float32, no dither, RNN
  scans not unrolled (rnn_unroll 1: unrolling changes the rounding); and
  configs/dcase2016.py keeps them all, with 15 classes and the paper's 20
  epochs. Rules out a default changed for speed or a test (a smaller dim,
  another clip) that would silently make every config built on it differ
  from the paper, and the paper's config itself changing one (its other
  tests only load and build it)."""
  config = config_lib.base_config()
  paper = dict(frame_size=16, frame_sizes=(), seq_len=1024, dim=1024, n_rnn=3,
               rnn_type="GRU", emb_size=256, sample_input="embedding", skip_conn=False,
               weight_norm=True, learn_h0=True, q_levels=256, q_type="linear",
               batch_size=128, learning_rate=1e-3, grad_clip=1.0, cond_type="one_hot",
               cond_sample_tier=False, dtype="float32", n_classes=0, sample_l1="auto",
               dither=False, rnn_unroll=1)
  assert {k: config[k] for k in paper} == paper
  assert config_lib.frame_sizes(config) == (16,)
  # configs/dcase2016.py, the paper's run: the same, with the 15 classes, the
  # paper's 20 epochs of 5 717 steps, and none of the data handling it did not do
  dcase = load_config_file(os.path.join(REPO, "configs", "dcase2016.py"))
  assert {k: dcase[k] for k in paper} == dict(paper, n_classes=15)
  assert (dcase.max_steps, dcase.trim_quiet, dcase.balance_classes, dcase.cond_dropout) == (
      20 * 5717, 0.0, False, 0.0)


def test_base_config_holds_the_papers_values_the_readme_lists():
  """Every row of the README's table "The paper's flags as config keys"
  with a default: ``base_config()`` holds that default (the paper's value),
  and the data handling the paper did not do is off (dither, trim_quiet,
  balance_classes, cond_dropout). Rules out a default changed in the code
  alone (a default config that no longer trains the paper's model, or a
  table that no longer says what runs): the key's own tests set it
  explicitly and cannot see it."""
  readme = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
  table = readme.split("## The paper's flags as config keys", 1)[1].split("\n## ", 1)[0]
  c, checked = config_lib.base_config(), 0
  for row in table.splitlines():
    cells = [x.strip() for x in row.strip().strip("|").split("|")]
    if len(cells) != 3 or not cells[2] or cells[2] in ("default", "---"):
      continue
    key = re.match(r"`(\w+)`", cells[1]).group(1)
    try:
      want = ast.literal_eval(cells[2])
    except (ValueError, SyntaxError):
      want = cells[2]  # a word: GRU, linear, embedding, one_hot
    assert c[key] == want, (key, c[key], want)
    checked += 1
  assert checked == 16
  assert (c.dither, c.trim_quiet, c.balance_classes, c.cond_dropout) == (False, 0, False, 0)
