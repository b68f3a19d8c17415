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
"""
from __future__ import annotations

from typing import Mapping

import jax
import numpy as np

from samplernn_jax.config import frame_sizes
from samplernn_jax.errors import ParamFormatError

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
