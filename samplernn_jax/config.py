"""Config helpers: defaults, validation, and building the model from a config.

Configs are ``ml_collections.ConfigDict`` from ``configs/<name>.py``
(``get_config()``). ``base_config()`` holds every key with the paper's value;
experiment configs start from it and change what they need, so every config
has the same keys and an unknown key on the command line is an error.
"""
from __future__ import annotations

import dataclasses
import math
import re

import flax
import jax
import jax.extend
import jax.numpy as jnp
import ml_collections
import numpy as np

from samplernn_jax import quantize as quant
from samplernn_jax.layers import RNN_KERNELS, RNN_TYPES, check_choice, check_pallas_rnn
from samplernn_jax.model import COND_TYPES, L1_IMPLS, ONE_HOT_GRAD_L1, SAMPLE_INPUTS, SampleRNN

SAMPLE_L1 = ("auto", *L1_IMPLS)

MAX_Q_LEVELS = 2 ** 16  # 100 000 levels trained for minutes without finishing a step
# Keys that change the model's parameter shapes or its function: a checkpoint
# only fits a config that agrees with it on these.
MODEL_KEYS = ("frame_size", "frame_sizes", "dim", "n_rnn", "rnn_type", "q_levels",
              "q_type", "emb_size", "sample_input", "skip_conn", "weight_norm",
              "learn_h0", "n_classes", "cond_type", "cond_emb_size",
              "cond_sample_tier", "variant")


def _model_keys(c: ml_collections.ConfigDict) -> None:
  """The model's keys and how its computations run (base_config's part)."""
  c.frame_size = 16          # the top tier's frame size
  c.frame_sizes = ()         # all tiers, top first; () means (frame_size,)
  c.dim = 1024
  c.n_rnn = 3
  c.rnn_type = "GRU"         # GRU | LSTM
  c.emb_size = 256           # 0: one-hot sample input (as the original)
  c.sample_input = "embedding"  # embedding | one_hot | real
  c.skip_conn = False
  c.weight_norm = True
  c.learn_h0 = True
  c.cond_type = "one_hot"    # one_hot (paper) | embedding (learned)
  c.cond_emb_size = 0        # size of the learned class embedding
  c.cond_sample_tier = False  # also feed the conditioning to the sample tier
  c.cond_dropout = 0.0       # share of training clips without their class (zero class
                             # vector), for guided sampling (sample.py --guidance); paper: 0
  c.dtype = "float32"        # matmul dtype: float32 | bfloat16 (params stay float32);
                             # float32 on a recent NVIDIA GPU is TF32 (JAX's default
                             # precision; README, "Differences": how to change it)
  c.rnn_unroll = 1           # RNN scan steps per loop trip (lax.scan's unroll): fewer
                             # trips on a GPU; the function up to float32 summation order
  c.rnn_kernel = "xla"       # GRU frame loops: xla | pallas (gru_pallas.py: two Triton
                             # kernels a frame each way, on each GPU's rows; unmeasured,
                             # so not the default; on a CPU Pallas' interpreter, no faster)
  c.sample_l1 = "auto"       # sample tier's embedding + first Linear: matmul | table |
                             # table_mm (tables, gradient as one one-hot matmul) |
                             # table_pallas (table_mm's matmul as a Pallas kernel) |
                             # auto (table on CPU, matmul on GPU/TPU: the faster there)


def base_config() -> ml_collections.ConfigDict:
  """Every key, with the values of the paper's run (docs/paper.md)."""
  c = ml_collections.ConfigDict()
  # Data.
  c.data_dir = ""            # folder of audio_{train,valid,test}.npz, or of class
                             # folders of recordings (packed once at 16 kHz), or
                             # "synthetic"; relative paths also from the repository
  c.seq_len = 1024           # TBPTT: target samples per chunk
  c.q_levels = 256
  c.q_type = "linear"        # linear | mu-law | a-law
  c.dither = False           # TPDF dither of +-1 level before quantising (paper: off)
  c.trim_quiet = 0.0         # cut 20 ms training frames varying < this many linear
                             # levels of their clip, re-cut per class (paper: 0, off)
  c.balance_classes = False  # every class drawn as often as the largest (paper: off)
  c.n_classes = 0            # 0: from the data (max sid + 1, or classes.json)
  _model_keys(c)  # the model and how it runs
  # Optimisation.
  c.batch_size = 128
  c.learning_rate = 1e-3
  c.grad_clip = 1.0          # element-wise clip to [-grad_clip, grad_clip]; 0 = off
  c.num_epochs = 20          # at least 1; max_steps may stop the run earlier
  c.max_steps = 0            # stop after this many steps in total; 0 = no limit
  c.seed = 0
  # Evaluation, logging, checkpoints.
  c.eval_every_steps = 0     # 0 = once per epoch
  c.eval_batch_size = 0      # 0 = batch_size
  c.max_eval_clips = 0       # 0 = every clip of valid and test; N: N clips spread
                             # evenly over each (packed splits are in class order)
  c.log_every_steps = 50     # train cost to metrics and the progress bar
  c.checkpoint_every_steps = 500  # also at every evaluation and at the end
  c.keep_checkpoints = 2     # latest checkpoints kept (the best one is kept apart)
  # Samples written during training (the paper's habit), at evaluations.
  c.sample_every_evals = 0   # 0 = off
  c.sample_per_class = 2
  c.sample_seconds = 2.0
  c.sample_rate = 16000      # rate of the data (npz packed at another rate need
                             # theirs): labels the written WAVs and sample seconds
  # A research variant's own model fields (README, "A variant in your own
  # code"): e.g. config.variant.n_mix = 10 for a class with a field n_mix;
  # build_model passes each to the model class by name, the checkpoint keeps them.
  c.variant = ml_collections.ConfigDict()
  c.lock()  # a key not listed here (a typo in a config file) is an error
  c.variant.unlock()  # ...except in variant, whose keys are the variant's
  return c


def load_config_file(path: str) -> ml_collections.ConfigDict:
  """``get_config()`` of a config file (e.g. configs/tiny.py), by path."""
  import importlib.util
  import os
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such config file")
  spec = importlib.util.spec_from_file_location("_config_" + os.path.basename(path)[:-3], path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config()


def from_saved(saved, where: str) -> ml_collections.ConfigDict:
  """A config saved as a dict (a checkpoint's meta) on top of ``base_config``.

  Keys this version does not know are refused, naming them.
  """
  if not isinstance(saved, dict):
    raise ValueError(f"{where}: the checkpoint's meta holds no config")
  config = base_config()
  unknown = sorted(set(saved) - set(config))
  if unknown:
    raise ValueError(f"{where}: the checkpoint's config has keys {unknown} that this "
                     "version of samplernn_jax does not know")
  config.update(saved)  # JSON lists back to tuples
  return config


def frame_sizes(config) -> tuple[int, ...]:
  return tuple(config.frame_sizes) or (int(config.frame_size),)


def sample_input(config) -> str:
  """emb_size=0 with sample_input 'embedding' means one-hot, as the original."""
  if config.sample_input == "embedding" and config.emb_size == 0:
    return "one_hot"
  return config.sample_input


def sample_l1(config, backend: str | None = None) -> str:
  """The sample tier's first-layer form: 'auto' is the look-up tables on a
  CPU (1.1-1.3x faster there, benchmarks/README.md) and the matmul elsewhere
  (an H200 ran the matmul 4% faster than the tables). Both compute the same
  function (tested). ``backend``: jax.default_backend() unless given."""
  if config.sample_l1 == "auto":
    return "table" if (backend or jax.default_backend()) == "cpu" else "matmul"
  return config.sample_l1


# jaxlib releases whose CUDA backend compiles a float32 scatter-add to a
# compare-and-swap loop (an LLVM NVPTX change; jax-ml/jax#38806,
# openxla/xla#46225): hundreds of times slower when many updates share a row,
# as in an embedding's gradient. Fixed in 0.11.1.
SLOW_SCATTER_JAX = ((0, 10, 2), (0, 11, 1))  # [first affected, first fixed)


def _version(text: str) -> tuple[int, ...]:
  """(major, minor, patch) of a version string such as '0.11.2.dev20261101'."""
  m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
  return tuple(int(g) for g in m.groups()) if m else ()


def slow_scatter_warning(config, backend: str | None = None, jax_version: str | None = None,
                         platform_version: str | None = None) -> str | None:
  """A warning when this config trains through a scatter-add that the
  installed jaxlib runs as a compare-and-swap loop on an NVIDIA GPU, else None.

  The sample tier's look-ups (``sample_input`` 'embedding' or 'one_hot')
  take autodiff's scatter-add gradient unless ``sample_l1`` is one of
  ``model.ONE_HOT_GRAD_L1`` ('table_mm', 'table_pallas'). The arguments
  default to this process's backend, jax version and the backend's platform
  version (a ROCm GPU, whose version names rocm, is not affected).
  """
  backend = backend or jax.default_backend()
  jax_version = jax_version or jax.__version__
  first, fixed = SLOW_SCATTER_JAX
  l1 = sample_l1(config, backend)
  if (backend not in ("gpu", "cuda") or not first <= _version(jax_version) < fixed
      or sample_input(config) == "real" or l1 in ONE_HOT_GRAD_L1):
    return None
  if platform_version is None:
    platform_version = jax.extend.backend.get_backend().platform_version
  if "rocm" in platform_version.lower():
    return None
  return (f"jax {jax_version} on an NVIDIA GPU runs float32 scatter-adds "
          "as compare-and-swap loops (jax-ml/jax#38806, fixed in jax 0.11.1): with "
          f"config.sample_l1={l1!r} the sample tier's look-up gradient is such a "
          "scatter (reported up to hundreds of times slower), and the training "
          "step slows with it. Install jax[cuda12]>=0.11.1, or set "
          "--config.sample_l1=table_mm (no scatter).")


def is_integer(v) -> bool:
  """Whether ``v`` is a Python or numpy integer, and not a bool (True is an
  int to Python, not a count or a seed to a user)."""
  return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def check_seed(seed, name: str = "seed", bound: int = 2 ** 32) -> None:
  """An integer seed 0 .. bound - 1. Draws take 2**32 (JAX's keys keep a
  seed's low 32 bits: 2**32 would draw as 0 does); a saved config takes
  numpy's 2**63 (a run started before that check still loads)."""
  if not (is_integer(seed) and 0 <= seed < bound):
    raise ValueError(f"{name}={seed!r}: expected an integer 0 .. 2**{bound.bit_length() - 1} - 1"
                     + (" (JAX's keys keep 32 bits: a larger seed would repeat a smaller "
                        "one's draws)" if bound == 2 ** 32 else ""))


def check_complete(config) -> None:
  """ValueError unless ``config`` is a ConfigDict holding every key of
  ``base_config()`` (a config file's get_config() returns base_config()
  changed, not a dict or a ConfigDict of its own)."""
  if not isinstance(config, ml_collections.ConfigDict):
    raise ValueError(f"the config is a {type(config).__name__}; expected the ConfigDict of "
                     "base_config() with changes (get_config() returns it, as in configs/)")
  missing = sorted(set(base_config()) - set(config))
  if missing:
    raise ValueError(f"the config lacks the keys {', '.join(missing[:4])}"
                     f"{' ...' if len(missing) > 4 else ''}; expected base_config() with "
                     "changes (get_config() returns it, as in configs/)")


def validate(config) -> None:
  """Raises ValueError naming the key for any inconsistent setting."""
  check_complete(config)
  fs = frame_sizes(config)
  if config.frame_sizes and fs[0] != config.frame_size:
    raise ValueError(f"config.frame_sizes={tuple(fs)} starts with {fs[0]} but "
                     f"config.frame_size={config.frame_size}: set frame_size to "
                     "the top tier's frame size")
  if any(s < 1 for s in fs) or any(a % b or a <= b for a, b in zip(fs, fs[1:])):
    raise ValueError(f"config.frame_sizes={fs}: expected decreasing positive sizes, "
                     "each a multiple of the next")
  if config.seq_len < 1 or config.seq_len % fs[0]:
    raise ValueError(f"config.seq_len={config.seq_len} must be a positive multiple "
                     f"of the top frame size {fs[0]}")
  check_choice("config", "rnn_type", config.rnn_type, RNN_TYPES)
  if not 1 <= config.n_rnn <= 8:
    raise ValueError(f"config.n_rnn={config.n_rnn}: expected 1 .. 8")
  quant.check_q_type(config.q_type)
  if not 2 <= config.q_levels <= MAX_Q_LEVELS:
    raise ValueError(f"config.q_levels={config.q_levels}: expected 2 .. {MAX_Q_LEVELS} "
                     "(16-bit audio at most: the output layer has dim x q_levels weights)")
  check_choice("config", "sample_input", config.sample_input, SAMPLE_INPUTS)
  check_choice("config", "cond_type", config.cond_type, COND_TYPES)
  if config.cond_type == "embedding" and config.cond_emb_size < 1:
    raise ValueError("config.cond_type='embedding' needs config.cond_emb_size >= 1")
  if config.cond_type == "one_hot" and config.cond_emb_size:
    raise ValueError(f"config.cond_emb_size={config.cond_emb_size} sizes the learned class "
                     "embedding of cond_type='embedding'; with cond_type='one_hot' nothing "
                     "would use it: set config.cond_type='embedding', or cond_emb_size=0")
  check_choice("config", "dtype", config.dtype, ("float32", "bfloat16"))
  check_choice("config", "sample_l1", config.sample_l1, SAMPLE_L1)
  check_choice("config", "rnn_kernel", config.rnn_kernel, RNN_KERNELS)
  if config.rnn_kernel == "pallas":
    check_pallas_rnn("config.rnn_kernel", config.rnn_type, config.dim)
  for key in ("dim", "batch_size", "num_epochs", "log_every_steps", "checkpoint_every_steps",
              "keep_checkpoints", "sample_rate", "rnn_unroll"):
    if config[key] < 1:
      raise ValueError(f"config.{key}={config[key]}: expected a positive integer")
  if not 0 <= config.cond_dropout < 1:
    raise ValueError(f"config.cond_dropout={config.cond_dropout}: expected 0 <= p < 1")
  # Written "not x >= 0" so that NaN, which fails every comparison, is refused too.
  if not (config.trim_quiet >= 0 and math.isfinite(config.trim_quiet)):
    raise ValueError(f"config.trim_quiet={config.trim_quiet}: expected a finite number "
                     ">= 0 (0: off)")
  if not (config.learning_rate > 0 and math.isfinite(config.learning_rate)):
    raise ValueError(f"config.learning_rate={config.learning_rate}: expected a finite "
                     "number > 0")
  # 0 means a default or off for these (see base_config); below it, nothing
  for key in ("n_classes", "max_steps", "eval_every_steps", "eval_batch_size",
              "max_eval_clips", "sample_every_evals", "grad_clip", "emb_size"):
    if not (config[key] >= 0 and math.isfinite(config[key])):
      raise ValueError(f"config.{key}={config[key]}: expected a finite number >= 0")
  check_seed(config.seed, "config.seed", 2 ** 63)  # a new run: 2**32 (train_and_evaluate)
  # checked here, not at the first evaluation's samples after hours of training
  if config.sample_per_class < 1:
    raise ValueError(f"config.sample_per_class={config.sample_per_class}: expected >= 1")
  if not (math.isfinite(config.sample_seconds)
          and round(config.sample_seconds * config.sample_rate) >= 1):
    raise ValueError(f"config.sample_seconds={config.sample_seconds}: expected a finite "
                     f"length of at least one sample at config.sample_rate={config.sample_rate}")


def build_model(config, n_classes: int | None = None,
                model_cls: type[SampleRNN] = SampleRNN) -> SampleRNN:
  """The model a config describes (``n_classes`` overrides config.n_classes,
  which may be 0: counted from the data by the trainer). ``model_cls``:
  SampleRNN or a subclass (a research variant: README, "A variant in your
  own code"), built with the same fields."""
  validate(config)
  n = n_classes if n_classes is not None else config.n_classes
  if n < 1:
    raise ValueError("config.n_classes is 0: pass n_classes (the trainer counts the "
                     "classes of config.data_dir) or set config.n_classes")
  if not (isinstance(model_cls, type) and issubclass(model_cls, SampleRNN)):
    raise TypeError(f"model_cls={model_cls!r}: expected SampleRNN or a subclass of it")
  fields = dict(
      frame_sizes=frame_sizes(config), dim=config.dim, n_rnn=config.n_rnn,
      rnn_type=config.rnn_type, skip_conn=config.skip_conn,
      weight_norm=config.weight_norm, learn_h0=config.learn_h0,
      q_levels=config.q_levels, emb_size=config.emb_size,
      sample_input=sample_input(config), n_classes=n, cond_type=config.cond_type,
      cond_emb_size=config.cond_emb_size, cond_sample_tier=config.cond_sample_tier,
      l1_impl=sample_l1(config), rnn_unroll=config.rnn_unroll, rnn_kernel=config.rnn_kernel,
      dtype=jnp.dtype(config.dtype))
  return model_cls(**fields, **variant_fields(config, model_cls, fields))


def _hashable(v):
  """A config value as a (hashable) module field: lists (JSON's tuples) back to
  tuples, dicts to FrozenDicts."""
  if isinstance(v, dict):
    return flax.core.FrozenDict({k: _hashable(x) for k, x in v.items()})
  return tuple(_hashable(x) for x in v) if isinstance(v, (list, tuple)) else v


def variant_fields(config, model_cls: type, library: dict) -> dict:
  """``config.variant``'s keys, each a field of ``model_cls`` (a ValueError
  naming the key otherwise: the library's own keys are set by their names)."""
  own = {f.name for f in dataclasses.fields(model_cls)}
  out = {}
  for key, value in config.variant.items():
    if key in library:
      raise ValueError(f"config.variant.{key}: {key} is the library's own field; set "
                       f"config.{key} instead")
    if key not in own:
      raise ValueError(f"config.variant.{key}: the model class {model_cls.__qualname__} "
                       f"has no field {key!r} (variant keys name fields of the class "
                       "trained, e.g. n_mix: int = 10 on a SampleRNN subclass)")
    out[key] = _hashable(value.to_dict() if hasattr(value, "to_dict") else value)
  return out
