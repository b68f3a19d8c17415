"""The original's parameter files in and out of a workdir, and scoring a split.

Library code of ``scripts/import_theano_params.py`` and ``scripts/score.py``.

* ``import_original``: an original (Theano) parameter file, ``{name:
  ndarray}`` pickled by Python 2 (``params_*.pkl``) or the same names in an
  ``.npz``, becomes step 0 of a workdir: a full ``steps.TrainState`` in
  ``checkpoints/0`` that train.py resumes from, sample.py and score.py read.
  The names go through ``theano_params.from_original`` (the one mapping), which
  refuses a missing name, an unexpected name or a wrong shape; nothing is
  written then. After writing, the checkpoint is read back and compared with
  the file, array by array, bit for bit.
* ``export_original``: the reverse, a checkpoint to a pickle (loadable by the
  original's ``lib.load_params`` under Python 2) or an npz of original names.
* ``score``: mean bits per target sample of a checkpoint on a paper-format
  npz, computed by ``cost.Evaluator``, the code of validation in train.py.

Pickles are read with a restricted unpickler that only builds numpy arrays
(the original's files hold nothing else), so a stray pickle cannot run code.
"""
from __future__ import annotations

import os
import pickle
from typing import Any, Mapping

import jax
import ml_collections
import numpy as np

from samplernn_jax import checkpoint as ckpt_lib
from samplernn_jax import config as config_lib
from samplernn_jax import files, sharding, splits, steps, theano_params
from samplernn_jax import workdir as workdir_lib
from samplernn_jax.batches import Position
from samplernn_jax.cost import Evaluator
from samplernn_jax.errors import ParamFormatError

PICKLE_EXTS = (".pkl", ".pickle")
NPZ_EXT = ".npz"

# The globals a pickle of {name: ndarray} needs: Python 2's cPickle (numpy 1.x
# names), Python 3 (numpy 2 names, ``_codecs`` for bytes under protocol 2) and
# ``write_original``'s portable form (``numpy.ndarray(shape, dtype, buffer)``).
_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class _ArrayUnpickler(pickle.Unpickler):
  """Unpickles numpy arrays in dicts and refuses every other global."""

  def find_class(self, module, name):
    if (module, name) not in _PICKLE_GLOBALS:
      raise ParamFormatError(
          f"the pickle needs {module}.{name}, which a parameter file of numpy "
          "arrays does not; refusing to load it (a pickle can run code)")
    return super().find_class(module, name)


def _kind(path: str) -> str:
  ext = os.path.splitext(path)[1].lower()
  if ext in PICKLE_EXTS:
    return "pickle"
  if ext == NPZ_EXT:
    return "npz"
  raise ValueError(f"{path}: unknown parameter file type {ext!r}; expected "
                   f"{' or '.join(PICKLE_EXTS)} (a pickle of {{name: ndarray}}) or "
                   f"{NPZ_EXT} (arrays under the original's names)")


def read_original(path: str) -> dict[str, np.ndarray]:
  """Reads {original name: float array} from a pickle (Python 2 or 3) or npz."""
  kind = _kind(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"--src {path}: no such file")
  try:
    if kind == "pickle":
      with open(path, "rb") as f:
        named = _ArrayUnpickler(f, encoding="latin1").load()
    else:
      with np.load(path, allow_pickle=False) as z:
        named = {k: z[k] for k in z.files}
  except ParamFormatError as e:
    raise ParamFormatError(f"{path}: {e}") from e
  except Exception as e:  # truncated file, not a pickle or zip, ...
    raise ParamFormatError(f"{path}: cannot read as a {kind} of parameters "
                       f"({type(e).__name__}: {e})") from e
  if not isinstance(named, Mapping):
    raise ParamFormatError(f"{path}: holds a {type(named).__name__}; expected a dict "
                       "{parameter name: ndarray} (the original's lib.save_params)")
  out = {}
  for name, value in named.items():
    if isinstance(name, bytes):
      name = name.decode("latin1")
    if not isinstance(name, str):
      raise ParamFormatError(f"{path}: holds a key {name!r}; expected parameter names")
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
      what = (f"an array of {value.dtype}" if isinstance(value, np.ndarray)
              else f"a {type(value).__name__}")
      raise ParamFormatError(f"{path}: parameter {name!r} is {what}; expected a float array")
    if not np.isfinite(value).all():
      raise ParamFormatError(f"{path}: parameter {name!r} holds NaN or Inf")
    out[name] = np.array(value)  # a writable copy, whatever the source
  if not out:
    raise ParamFormatError(f"{path}: holds no parameters")
  return out


class _PortablePickler(pickle.Pickler):
  """Pickles arrays as ``numpy.ndarray(shape, dtype, buffer)``.

  numpy >= 2 pickles arrays with ``numpy._core`` names, which Python 2's numpy
  (the original's) cannot import; ``numpy.ndarray``, ``numpy.dtype`` and
  protocol 2's ``_codecs.encode`` exist in every numpy and Python.
  """

  def reducer_override(self, obj):
    if type(obj) is np.ndarray:
      a = np.ascontiguousarray(obj)
      return np.ndarray, (a.shape, a.dtype, a.tobytes())
    return NotImplemented


def write_original(named: Mapping[str, np.ndarray], path: str) -> None:
  """Writes {original name: array} as a portable pickle or an npz (atomic)."""
  kind = _kind(path)
  if os.path.exists(path):
    raise FileExistsError(f"{path}: already exists; remove it or choose another file")
  arrays = {str(k): np.asarray(v) for k, v in named.items()}

  def write(tmp):
    with open(tmp, "wb") as f:
      if kind == "pickle":
        _PortablePickler(f, protocol=2).dump(arrays)
      else:
        np.savez(f, **arrays)
  files.atomic_write(path, write)


# ---------------------------------------------------------------------------
# Checkpoints.


def existing_checkpoints(workdir: str) -> list[str]:
  """Entries of the workdir's checkpoint folders (``checkpoints/``, ``best/``)."""
  found = []
  for sub in (ckpt_lib.LATEST, ckpt_lib.BEST):
    d = os.path.join(workdir, sub)
    if os.path.isdir(d):
      found += [os.path.join(d, n) for n in sorted(os.listdir(d))]
  return found


def config_from_meta(meta: dict, where: str) -> ml_collections.ConfigDict:
  """The run's config saved in a checkpoint's meta (see ``config.from_saved``)."""
  return config_lib.from_saved(meta.get("config"), where)


def _step0_meta(config, n_classes: int, class_names: list[str], src: str) -> dict:
  """The meta of step 0, as ``trainer.train_and_evaluate`` writes it."""
  return {"step": 0, "epoch": 0, "position": vars(Position(0, 0, 0)),
          "best_valid": None, "config": config.to_dict(), "n_classes": n_classes,
          "class_names": class_names, "data_dir": config.data_dir,
          "imported_from": os.path.abspath(src)}


def import_original(src: str, config, workdir: str, n_classes: int = 0) -> dict:
  """Writes the original's parameters in ``src`` as step 0 of ``workdir``.

  ``n_classes`` (when not 0) is the class count of the original's model; it
  must agree with ``config.n_classes`` unless that is 0. Returns a summary:
  the checkpoint folder and the number of parameter arrays and values.
  """
  found = existing_checkpoints(workdir)
  if found:
    raise FileExistsError(f"--workdir {workdir}: already holds checkpoints "
                          f"({found[0]}); import into a new --workdir")
  if n_classes and config.n_classes and n_classes != config.n_classes:
    raise ValueError(f"--n_classes={n_classes} but config.n_classes="
                     f"{config.n_classes}; give one of them")
  n = int(n_classes or config.n_classes)
  if n < 1:
    raise ValueError("config.n_classes is 0: pass --n_classes N, the number of "
                     "classes the original model was trained with (15 for DCASE 2016)")
  config = config.copy_and_resolve_references()
  config.n_classes = n
  model = config_lib.build_model(config, n)
  named = read_original(src)
  template = jax.eval_shape(
      lambda: steps.init_params(model, jax.random.key(config.seed), config.seq_len))
  try:
    params = theano_params.from_original(named, config, template)
  except ParamFormatError as e:
    raise ParamFormatError(f"{src}: {e}") from e
  class_names = splits.load_class_names(config.data_dir or None, n)[:n]

  # Everything is checked: write, holding the workdir as train.py does.
  tx = steps.make_optimizer(config)

  def make_state(params):  # train.py's fresh state, with these parameters
    state = steps.init_state(model, tx, jax.random.key(config.seed), config.batch_size,
                             config.seq_len)
    return state.replace(
        params=params, opt_state=tx.init(params),
        rnn_state=steps.initial_rnn_state(model, params, config.batch_size))

  state = jax.jit(make_state)(params)
  with workdir_lib.WorkdirLock(workdir):
    workdir_lib.check_writable(workdir)
    found = existing_checkpoints(workdir)  # again: a run may have started meanwhile
    if found:
      raise FileExistsError(f"--workdir {workdir}: already holds checkpoints "
                            f"({found[0]}); import into a new --workdir")
    ckpts = ckpt_lib.Checkpoints(workdir, config.keep_checkpoints)
    ckpts.save(ckpt_lib.LATEST, 0, state, _step0_meta(config, n, class_names, src))
    ckpts.close()

  # Read back what was written: it must be the file's arrays, bit for bit.
  back, _ = ckpt_lib.restore_params(workdir, ckpt_lib.LATEST, 0)
  back = theano_params.to_original(back, config)
  for name, value in named.items():
    if not np.array_equal(back[name], value.astype(np.float32)):
      raise RuntimeError(f"{workdir}: parameter {name!r} reads back different from "
                         f"{src}; the checkpoint is not the file's model")
  return {"checkpoint": os.path.join(workdir, ckpt_lib.LATEST, "0"),
          "arrays": len(named), "values": int(sum(v.size for v in named.values()))}


def export_original(workdir: str, dst: str, ckpt: str = "latest") -> dict:
  """Writes a checkpoint's parameters under the original's names to ``dst``."""
  _kind(dst)
  if os.path.exists(dst):
    raise FileExistsError(f"{dst}: already exists; remove it or choose another file")
  sub, step = ckpt_lib.find_step(workdir, ckpt)
  params, meta = ckpt_lib.restore_params(workdir, sub, step)
  config = config_from_meta(meta, os.path.join(workdir, sub, str(step)))
  named = theano_params.to_original(params, config)
  write_original(named, dst)
  return {"checkpoint": os.path.join(workdir, sub, str(step)), "file": dst,
          "arrays": len(named)}


# ---------------------------------------------------------------------------
# Scoring.


def score(workdir: str, data_path: str, ckpt: str = "best",
          overrides: Mapping[str, Any] | None = None) -> dict:
  """Mean bits per target sample of a checkpoint over every clip of an npz.

  The model config is the checkpoint's; ``overrides`` may change only keys
  outside ``config.MODEL_KEYS`` (e.g. eval_batch_size, seq_len, dtype).
  ``max_eval_clips`` of the training config is ignored (every clip counts)
  unless overridden. Returns ``{"bits", "clips", "samples"}``, samples being
  the number of target samples scored (clips x clip length).
  """
  overrides = dict(overrides or {})
  model_keys = [k for k in overrides if k.split(".")[0] in config_lib.MODEL_KEYS]
  if model_keys:
    raise ValueError(f"--config.{model_keys[0]} changes the model; score.py takes the "
                     "model from the checkpoint's config (model keys: "
                     f"{', '.join(config_lib.MODEL_KEYS)})")
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"--workdir {workdir}: no such folder")
  sub, step = ckpt_lib.find_step(workdir, ckpt)
  meta = ckpt_lib.read_meta(workdir, sub, step)
  config = config_from_meta(meta, os.path.join(workdir, sub, str(step)))
  config.max_eval_clips = 0
  for key, value in overrides.items():
    config[key] = value
  config_lib.validate(config)
  n_classes = int(meta.get("n_classes") or config.n_classes)
  model = config_lib.build_model(config, n_classes)
  split = splits.load_split(data_path, n_classes=n_classes)  # before the big read
  clips = split.num_clips
  if config.max_eval_clips:
    clips = min(clips, config.max_eval_clips)

  mesh = sharding.make_mesh()
  if "eval_batch_size" not in overrides:  # no batch of padding rows beyond need
    n_dev = mesh.devices.size
    config.eval_batch_size = min(config.eval_batch_size or config.batch_size,
                                 -(-clips // n_dev) * n_dev)
  params, _ = ckpt_lib.restore_params(workdir, sub, step)
  params = sharding.put_replicated(params, mesh)
  bits = Evaluator(model, config, mesh)(params, split, "score")
  return {"bits": bits, "clips": clips, "samples": clips * split.clip_len}
