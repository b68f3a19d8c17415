"""The original's parameter names, and conversion to and from ours.

The original (Theano) stores parameters as a flat ``{name: ndarray}`` dict,
e.g. ``FrameLevel.GRU1.Step.Input.W0``; ours is a flax tree, e.g.
``params/tier0/rnn0/input/kernel``. ``original_name`` maps one of our paths to
the original's name; ``to_original`` and ``from_original`` convert whole
trees. Every ``W0`` is [in, out] like our ``kernel``; ``g0`` is our ``scale``
and ``b`` our ``bias``.

Tier prefixes: two tiers (the paper) use ``FrameLevel``; three tiers use
``BigFrameLevel`` then ``FrameLevel`` (the ICLR 2017 code); more tiers use
``FrameLevel{k}``. Parts the original does not have (learned class embedding,
conditioning of the sample tier) get names in the same style.

Files: ``read_original`` / ``write_original`` read and write the original's
parameter files, a Python 2 pickle of ``{name: ndarray}`` (``params_*.pkl``,
read with a restricted unpickler that only builds numpy arrays, so a stray
pickle cannot run code) or the same names in an ``.npz``.
``import_original`` makes such a file step 0 of a workdir (a full
``steps.TrainState`` in ``checkpoints/0`` that train.py resumes from and
sample.py and score.py read), refusing a missing name, an unexpected name or
a wrong shape before anything is written, then reading the checkpoint back
and comparing it with the file array by array, bit for bit.
``export_original`` writes a checkpoint back under the original's names.
Library code of ``scripts/import_theano_params.py``.
"""
from __future__ import annotations

import os
import pickle
from typing import Mapping

import jax
import numpy as np

from samplernn_jax import checkpoint as ckpt_lib
from samplernn_jax import config as config_lib
from samplernn_jax import files, splits, steps
from samplernn_jax import workdir as workdir_lib
from samplernn_jax.batches import Position
from samplernn_jax.config import frame_sizes
from samplernn_jax.errors import ParamFormatError
from samplernn_jax.model import SampleRNN

_LEAF = {"kernel": "W0", "scale": "g0", "bias": "b"}
_SAMPLE = {"prev_samples": "L1_PrevSamples", "hidden1": "L2", "hidden2": "L3",
           "output": "Output", "cond": "Cond", "embedding": "Embedding"}


def _tier_prefix(k: int, n_tiers: int) -> str:
  if n_tiers == 1:
    return "FrameLevel"
  if n_tiers == 2:
    return ("BigFrameLevel", "FrameLevel")[k]
  return f"FrameLevel{k}"


def original_name(path: tuple[str, ...], config) -> str:
  """Our parameter path (without the 'params' root) -> the original's name."""
  n_tiers = len(frame_sizes(config))
  cell = config.rnn_type
  head, rest = path[0], path[1:]
  if head.startswith("tier"):
    pre = _tier_prefix(int(head[4:]), n_tiers)
    part = rest[0]
    if part == "h0":
      return f"{pre}.h0"
    if part.startswith("rnn"):
      l = int(part[3:]) + 1
      layer = f"{pre}.{cell}{l}" + ("+inpskip" if config.skip_conn and l > 1 else "")
      if rest[1] == "bias":  # LSTM gate bias
        return f"{layer}.Step.b"
      sub = {"input": "Input", "recurrent_gates": "Recurrent_Gates",
             "recurrent_candidate": "Recurrent_Candidate"}[rest[1]]
      return f"{layer}.Step.{sub}.{_LEAF[rest[2]]}"
    if part.startswith("skip"):
      l = int(part[4:]) + 1
      owner = f"{cell}{l}" if cell == "LSTM" else cell
      return f"{pre}.{owner}.outskip{l}y.{_LEAF[rest[1]]}"
    sub = {"output": "Output", "input_expand": "InputExpand"}[part]
    return f"{pre}.{sub}.{_LEAF[rest[1]]}"
  if head == "sample_tier":
    name = f"SampleLevel.{_SAMPLE[rest[0]]}"
    return name if rest[0] == "embedding" else f"{name}.{_LEAF[rest[1]]}"
  if head == "class_embedding":
    return "ClassEmbedding"
  raise KeyError(f"no original name for parameter {'/'.join(path)}")


def _paths(tree) -> list[tuple[tuple[str, ...], object]]:
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  return [(tuple(k.key for k in p), leaf) for p, leaf in flat]


def to_original(params: Mapping, config) -> dict[str, np.ndarray]:
  """Our ``params`` tree (the 'params' collection) -> {original name: array}."""
  return {original_name(p, config): np.asarray(v) for p, v in _paths(params)}


def from_original(named: Mapping[str, np.ndarray], config, template: Mapping) -> dict:
  """{original name: array} -> our params tree shaped like ``template``.

  ``template`` is our params tree (arrays or ShapeDtypeStructs, e.g. from
  ``jax.eval_shape``). Raises ``ParamFormatError`` naming the first parameter
  that is missing, unexpected or of the wrong shape.
  """
  used, leaves = set(), []
  paths = _paths(template)
  for path, ref in paths:
    name = original_name(path, config)
    if name not in named:
      raise ParamFormatError(f"parameter {name!r} (ours: {'/'.join(path)}, shape "
                         f"{tuple(ref.shape)}) is missing from the file")
    value = np.asarray(named[name])
    if value.shape != tuple(ref.shape):
      raise ParamFormatError(f"parameter {name!r} has shape {value.shape}; the config "
                         f"needs {tuple(ref.shape)} (ours: {'/'.join(path)})")
    used.add(name)
    leaves.append(value.astype(ref.dtype))
  extra = sorted(set(named) - used)
  if extra:
    raise ParamFormatError(f"parameter {extra[0]!r} is not part of a model with this "
                       f"config ({len(extra)} unexpected names in all)")
  treedef = jax.tree_util.tree_structure(template)
  return jax.tree_util.tree_unflatten(treedef, leaves)


# ---------------------------------------------------------------------------
# Parameter files.


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
    raise FileNotFoundError(f"src {path}: no such file")
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


def _step0_meta(config, n_classes: int, class_names: list[str], src: str) -> dict:
  """The meta of step 0, as ``trainer.train_and_evaluate`` writes it."""
  return {"step": 0, "epoch": 0, "position": vars(Position(0, 0, 0)),
          "best_valid": None, "config": config.to_dict(), "n_classes": n_classes,
          "class_names": class_names, "data_dir": config.data_dir,
          "imported_from": os.path.abspath(src)}


def _check_import(src: str, config, workdir: str, n_classes: int) -> int:
  """The class count of an import, once its file, workdir and counts are
  checked (the file first: the first thing a user gives)."""
  if not os.path.isfile(src):
    raise FileNotFoundError(f"src {src}: no such file")
  found = existing_checkpoints(workdir)
  if found:
    raise FileExistsError(f"workdir {workdir}: already holds checkpoints "
                          f"({found[0]}); import into a new workdir")
  if n_classes < 0:
    raise ValueError(f"n_classes={n_classes}: expected a positive class count (or 0: the "
                     "config's)")
  if n_classes and config.n_classes and n_classes != config.n_classes:
    raise ValueError(f"n_classes={n_classes} but config.n_classes="
                     f"{config.n_classes}; give one of them")
  n = int(n_classes or config.n_classes)
  if n < 1:
    raise ValueError("config.n_classes is 0: give the number of classes the original "
                     "model was trained with, n_classes (--n_classes N; 15 for DCASE 2016)")
  return n


def import_original(src: str, config, workdir: str, n_classes: int = 0) -> dict:
  """Writes the original's parameters in ``src`` as step 0 of ``workdir``.

  ``n_classes`` (when not 0) is the class count of the original's model; it
  must agree with ``config.n_classes`` unless that is 0. Returns a summary:
  the checkpoint folder and the number of parameter arrays and values.
  """
  n = _check_import(src, config, workdir, n_classes)
  config = config.copy_and_resolve_references()
  config.n_classes = n
  model = config_lib.build_model(config, n)
  named = read_original(src)
  template = jax.eval_shape(
      lambda: steps.init_params(model, jax.random.key(config.seed), config.seq_len))
  try:
    params = from_original(named, config, template)
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
      raise FileExistsError(f"workdir {workdir}: already holds checkpoints "
                            f"({found[0]}); import into a new workdir")
    ckpts = ckpt_lib.Checkpoints(workdir, config.keep_checkpoints)
    try:
      ckpts.save(ckpt_lib.LATEST, 0, state, _step0_meta(config, n, class_names, src))
    finally:  # the managers' threads, also when the save fails (a full disk)
      ckpts.close()

  # Read back what was written: it must be the file's arrays, bit for bit.
  back, _ = ckpt_lib.restore_params(workdir, ckpt_lib.LATEST, 0)
  back = to_original(back, config)
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
  sub, step, params, meta = ckpt_lib.restore_chosen(workdir, ckpt)
  where = os.path.join(workdir, sub, str(step))
  config = config_lib.from_saved(meta.get("config"), where)
  # The original has only its own model: a variant's checkpoint would be
  # written as the library's function, or fail on a name it lacks.
  ckpt_lib.check_model_class(meta, SampleRNN, where, "the original's code has only "
                             "SampleRNN: a variant's parameters have no names there")
  model = config_lib.build_model(config, ckpt_lib.n_classes_of(meta, config, where))
  ckpt_lib.check_params(params, steps.abstract_params(model, config.seq_len), where)
  named = to_original(params, config)
  write_original(named, dst)
  return {"checkpoint": os.path.join(workdir, sub, str(step)), "file": dst,
          "arrays": len(named)}
