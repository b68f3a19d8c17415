"""Checkpoints with orbax: the latest few (resume) and the best-valid one.

Layout in the workdir::

  checkpoints/<step>/{state,meta}   the latest ``keep`` training states
  best/<step>/{state,meta}          the parameters with the best valid cost

Two managers rather than one with ``best_fn``: orbax deletes the latest
checkpoint when it is not among the best, which would break resume
(seen with orbax 0.11-0.12). Saves are atomic (orbax writes a temporary directory and
renames it), so a killed run never leaves a checkpoint that loads half.
``meta`` is JSON: the config, the data position, the best valid cost.
What ``sample_files.load_checkpoint`` (and so sample.py) reads of it:
``config`` (``config.to_dict()``) and ``n_classes`` (else the config's), and
where present ``class_names``, ``class_rms`` (each class's median RMS, for
level ``class``) and ``model_class`` (``class_name`` of the model's class).
"""
from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable, TypeVar

import jax
import orbax.checkpoint as ocp
from absl import logging

from samplernn_jax.errors import CheckpointReadError, ParamFormatError

LATEST, BEST = "checkpoints", "best"
LIBRARY_MODULE = "samplernn_jax.model"  # where the library's SampleRNN lives
REMOVED_WAIT_S = 0.5  # orbax removes a step's files first, its folder last
# Failures of a read that are not the checkpoint's: raised as they are
NOT_READ_FAILURES = (MemoryError, TypeError, AttributeError, NameError, AssertionError)
T = TypeVar("T")


def manager(path: str, keep: int, read_only: bool = False) -> ocp.CheckpointManager:
  """An orbax manager of ``path`` whose steps hold a ``state`` pytree and a
  JSON ``meta`` (the layout of every checkpoint here, the evaluation's
  classifiers included), keeping the newest ``keep`` steps. ``read_only``
  for finding and restoring: it creates, deletes and writes nothing."""
  if not read_only:
    return ocp.CheckpointManager(
        os.path.abspath(path),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             cleanup_tmp_directories=True),
        item_names=("state", "meta"))
  options = ocp.CheckpointManagerOptions(max_to_keep=None, create=False, read_only=True,
                                         save_interval_steps=0)
  # orbax warns "Given directory is read only" on every read-only manager: a
  # line per restore in sample.py's output, saying nothing the caller does
  # not know. Hidden for the construction only.
  level = logging.get_verbosity()
  logging.set_verbosity(logging.ERROR)
  try:
    return ocp.CheckpointManager(os.path.abspath(path), options=options,
                                 item_names=("state", "meta"))
  finally:
    logging.set_verbosity(level)


class Checkpoints:
  """The two managers of a workdir."""

  def __init__(self, workdir: str, keep: int = 2):
    self.latest = manager(os.path.join(workdir, LATEST), max(1, keep))
    self.best = manager(os.path.join(workdir, BEST), 1)

  def save(self, which: str, step: int, state: Any, meta: dict) -> None:
    """Saves ``state`` and the JSON ``meta`` (a dict) as ``step`` of
    ``which``: LATEST (or ``"latest"``) or BEST. Asynchronous; a step already
    on disk is kept as it is (a step fully determines the state, e.g. after
    Ctrl-C right after a save)."""
    managers = {LATEST: self.latest, "latest": self.latest, BEST: self.best}
    if which not in managers:
      raise ValueError(f"which={which!r}: expected {LATEST!r} (or 'latest') or {BEST!r}")
    if not isinstance(meta, dict):
      raise TypeError(f"meta: a {type(meta).__name__}; expected a dict that json can "
                      "write (a config as config.to_dict())")
    mgr = managers[which]
    if step in mgr.all_steps():
      return
    mgr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                           meta=ocp.args.JsonSave(meta)), force=True)

  def wait(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self) -> None:
    self.wait()
    self.latest.close()
    self.best.close()


def saved_steps(workdir: str, sub: str) -> list[int]:
  """The steps saved in ``workdir/sub`` (LATEST or BEST), oldest first."""
  d = os.path.join(workdir, sub)
  if not os.path.isdir(d):
    return []
  return sorted(int(n) for n in os.listdir(d) if n.isdigit())


def find_step(workdir: str, ckpt: str) -> tuple[str, int]:
  """``best`` | ``latest`` | a step number -> (manager folder, step).

  ``best`` falls back to the newest state when no evaluation has run yet,
  ``latest`` to the best state in a folder that keeps only that (the demo's).
  Raises FileNotFoundError naming the workdir when there is none.
  """
  steps = functools.partial(saved_steps, workdir)
  if ckpt == "best":
    found = steps(BEST)
    if found:
      return BEST, found[-1]
    ckpt = "latest"  # no evaluation has run yet: the newest state is the best we have
  if ckpt == "latest":
    found = steps(LATEST)
    if found:
      return LATEST, found[-1]
    if steps(BEST):  # a folder that keeps only its best state (the demo's)
      return BEST, steps(BEST)[-1]
    raise FileNotFoundError(f"{workdir}: no checkpoint (expected {LATEST}/<step> or "
                            f"{BEST}/<step> from train.py or "
                            "scripts/import_theano_params.py)")
  if not str(ckpt).isdigit():
    raise ValueError(f"ckpt={ckpt!r}: expected best, latest or a step number")
  step = int(ckpt)
  for sub in (LATEST, BEST):
    if step in steps(sub):
      return sub, step
  raise FileNotFoundError(f"{workdir}: no checkpoint at step {step} (have {LATEST}/: "
                          f"{steps(LATEST)}, {BEST}/: {steps(BEST)})")


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  """'tier/kernel'-style path -> shape of every leaf of a parameter tree."""
  return {"/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): tuple(x.shape)
          for path, x in jax.tree_util.tree_leaves_with_path(tree)}


def check_params(params: Any, expected: Any, where: str) -> None:
  """Raises ParamFormatError unless ``params`` (restored from a checkpoint)
  has exactly the paths and shapes of ``expected`` (the model's, e.g.
  ``steps.abstract_params``). A checkpoint restored without a target loads
  whatever tree was saved, and flax ignores parameters the model does not
  use: without this check, a checkpoint of another model class (a research
  variant) would generate or score with part of its parameters, silently."""
  got, want = _shapes(params), _shapes(expected)
  problems = []
  for label, keys in (("missing", sorted(set(want) - set(got))),
                      ("not in the model", sorted(set(got) - set(want)))):
    if keys:
      problems.append(f"{label}: {', '.join(keys[:4])}" + (" ..." if len(keys) > 4 else ""))
  other = [f"{k} {got[k]} (model {want[k]})" for k in sorted(set(got) & set(want))
           if got[k] != want[k]]
  if other:
    problems.append("other shape: " + ", ".join(other[:4]) + (" ..." if len(other) > 4 else ""))
  if problems:
    raise ParamFormatError(
        f"{where}: its parameters do not fit the model its config builds ("
        + "; ".join(problems) + "); it was saved by another model class or version "
        "of the code")


def class_name(model_cls: type) -> str:
  """What a checkpoint records of the class that trained it: ``module:Class``
  (``samplernn_jax.model:SampleRNN``), which ``--model_cls`` takes back."""
  return f"{model_cls.__module__}:{model_cls.__qualname__}"


def _same_class(saved: str, model_cls: type) -> bool:
  """A class defined in a script run as ``__main__`` matches by name alone
  (trained by ``python my_variant.py``, loaded by importing my_variant),
  except against the library's own (a script's class named SampleRNN is
  not it); a checkpoint from before the module was recorded holds the name
  alone."""
  module, _, name = saved.rpartition(":")
  modules = (module, model_cls.__module__)
  return name == model_cls.__qualname__ and (
      not module or module == model_cls.__module__
      or ("__main__" in modules and LIBRARY_MODULE not in modules))


def n_classes_of(meta: dict, config, where: str) -> int:
  """The class count of the checkpoint ``where``: its meta's, else its
  config's (0: the trainer counted them from the data and wrote them into
  the meta); ParamFormatError when neither holds one."""
  n = int(meta.get("n_classes") or config.n_classes)
  if n < 1:
    raise ParamFormatError(f"{where}: the meta has no n_classes and its config.n_classes is "
                           "0; expected the class count in either")
  return n


def check_model_class(meta: dict, model_cls: type, where: str,
                      advice: str = "") -> None:
  """Raises ParamFormatError when the checkpoint's meta names another model
  class (``model_class``: ``class_name`` of the class that trained it) than
  ``model_cls``: a variant whose parameters are exactly the library's (even
  one named ``SampleRNN`` in another module) would pass ``check_params`` and
  be run as another function. Checkpoints from before the key (the demo's,
  imports) are not checked."""
  saved = meta.get("model_class")
  if saved and not _same_class(saved, model_cls):
    module, _, name = saved.rpartition(":")
    flag = (f"--model_cls={saved}" if module and module != "__main__" else
            "--model_cls=<module>:" + name + " naming the module that defines it")
    raise ParamFormatError(
        f"{where}: trained by the model class {saved!r}, not {class_name(model_cls)!r}; "
        + (advice or f"load it with model_cls={name} (sample.py, score.py: {flag})"))


def _read_step(workdir: str, sub: str, step: int, **items) -> Any:
  """The ``items`` (``ocp.args`` restores by name) of one step's folder.
  Read through a Checkpointer of that folder, not a manager of ``sub``: a
  manager looks at every step when built, and fails when a run training in
  the workdir removes an older one meanwhile (every save past
  ``keep_checkpoints`` does)."""
  with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
    return checkpointer.restore(os.path.abspath(os.path.join(workdir, sub, str(step))),
                                args=ocp.args.Composite(**items))


def restore(workdir: str, sub: str, step: int, abstract_state: Any) -> tuple[Any, dict]:
  """Restores (state, meta) of one checkpoint; ``abstract_state`` from eval_shape."""
  out = _read_step(workdir, sub, step, meta=ocp.args.JsonRestore(),
                   state=ocp.args.StandardRestore(abstract_state))
  return out.state, dict(out.meta)


def read_meta(workdir: str, sub: str, step: int) -> dict:
  """The JSON meta of one checkpoint (config, data position, best cost)."""
  return dict(_read_step(workdir, sub, step, meta=ocp.args.JsonRestore()).meta)


def restore_tree(workdir: str, sub: str, step: int) -> tuple[dict, dict]:
  """(saved tree, meta) of a checkpoint, restored without a target: nested
  dicts and lists of arrays (a TrainState's fields by name in
  ``checkpoints/``, e.g. ``tree["opt_state"][1][0]["mu"]``, Adam's first
  moment after the clip; ``{"params": ...}`` in ``best/``), onto this
  process's first device whatever devices or hosts saved it."""
  here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  out = _read_step(workdir, sub, step, meta=ocp.args.JsonRestore(),
                   state=ocp.args.StandardRestore(fallback_sharding=here))
  return out.state, dict(out.meta)


def restore_params(workdir: str, sub: str, step: int) -> tuple[Any, dict]:
  """Only the parameters (and meta) of a checkpoint, for sampling and
  scoring: of ``checkpoints/``'s full training states and ``best/``'s
  parameter-only ones alike (``restore_tree``)."""
  tree, meta = restore_tree(workdir, sub, step)
  return tree["params"], meta


def _removed(workdir: str, ckpt: str, sub: str, step: int) -> bool:
  """Whether ``sub/step`` is no longer what ``find_step(workdir, ckpt)``
  names: removed, or (``best``, ``latest``) a newer step saved meanwhile."""
  if step not in saved_steps(workdir, sub):
    return True
  if ckpt not in ("best", "latest"):
    return False
  try:
    return find_step(workdir, ckpt) != (sub, step)
  except FileNotFoundError:
    return True


def read_chosen(workdir: str, ckpt: str, read: Callable[[str, int], T],
                tries: int = 3) -> tuple[str, int, T]:
  """``find_step(workdir, ckpt)``, then ``read(sub, step)``: (sub, step, what
  it read). A step removed while read, as a run training in ``workdir``
  removes them (best/ keeps one; checkpoints/ the newest
  ``keep_checkpoints``), is looked up again, up to ``tries`` reads: ``best``
  and ``latest`` name the newer step, a step number its copy in the other
  folder (or ``find_step`` says which steps are kept). Any other failure of
  the read but NOT_READ_FAILURES and running out of device memory is a
  CheckpointReadError naming the step's folder. One process: every process
  of a run would choose on its own (orbax's restores wait for each other)."""
  if tries < 1:
    raise ValueError(f"tries={tries}: expected at least 1")
  for attempt in range(tries):
    sub, step = find_step(workdir, ckpt)
    try:
      return sub, step, read(sub, step)
    except Exception as e:  # noqa: BLE001 - orbax and tensorstore raise KeyError, Exception...
      if isinstance(e, NOT_READ_FAILURES) or "RESOURCE_EXHAUSTED" in str(e):
        raise
      gone = _removed(workdir, ckpt, sub, step)
      if not gone:
        time.sleep(REMOVED_WAIT_S)
        gone = _removed(workdir, ckpt, sub, step)
      if gone and attempt + 1 < tries:
        logging.warning("%s/%s/%d was removed while read; looking again", workdir, sub, step)
        continue
      first = (str(e).strip().splitlines() or [""])[0][:200]
      why = ("it was removed while read (a train.py running in this workdir keeps one "
             f"state in {BEST}/ and the newest keep_checkpoints in {LATEST}/): run "
             "again, or give --ckpt a step it keeps" if gone else
             "it is damaged, or was being removed by a train.py running in this workdir")
      raise CheckpointReadError(f"{os.path.join(workdir, sub, str(step))}: cannot be read "
                                f"({type(e).__name__}: {first}); {why}") from e
  raise AssertionError("unreachable: the last try returns or raises")


def restore_chosen(workdir: str, ckpt: str) -> tuple[str, int, Any, dict]:
  """(sub, step, params, meta) of the step ``ckpt`` names (``best``,
  ``latest`` or a number): ``restore_params`` through ``read_chosen``, as
  sample.py, score.py and the export read a workdir that may be training."""
  sub, step, (params, meta) = read_chosen(workdir, ckpt,
                                          functools.partial(restore_params, workdir))
  return sub, step, params, meta
