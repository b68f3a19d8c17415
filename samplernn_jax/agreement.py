"""The processes of one run agree before they train: one config, one data
set, one workdir, one checkpoint to resume.

A run of several processes starts one ``train.py`` per host (or per GPU);
each parses its own flags, opens its own ``data_dir`` and lists the
workdir's checkpoints itself, and nothing else compares them. Processes
started with another seed or learning rate train other "replicated"
parameters (only process 0's are saved); a workdir on each host's own disk
trains on until the first checkpoint, whose save then waits forever; a host
whose cached folder listing shows another step resumes another state. So
every process gathers the others' records (``distributed.gather_json``) and
raises the same error naming what differs, and all of them stop.

Records: ``{"workdir": token, "config": {...}}`` at the start (the token
process 0 wrote to the workdir, as each process reads it back:
``workdir.write_probe``), then ``{"data": fingerprint, "step": latest}``
once the data is open.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable

import jax
from absl import logging

from samplernn_jax import distributed
from samplernn_jax import workdir as workdir_lib
from samplernn_jax.errors import TrainingError, WorkdirError

# Hosts may hold the same recordings at other paths: the data is compared by
# its content (``trainer.data_fingerprint``), not by data_dir.
HOST_KEYS = ("data_dir",)
PROBE_TRIES = 61  # a second apart: what differs for a minute is not a cache's delay


def config_record(config) -> dict:
  """The config as the processes compare it: every key but ``HOST_KEYS``."""
  return {k: v for k, v in config.to_dict().items() if k not in HOST_KEYS}


def _keys_that_differ(mine: dict | None, first: dict | None) -> list[str]:
  mine, first = mine or {}, first or {}
  return sorted(k for k in set(mine) | set(first) if mine.get(k) != first.get(k))


def differences(everyone: list[dict]) -> list[str]:
  """One phrase for each way a process's record differs from process 0's
  (``everyone``: the records in process order); [] when they agree."""
  first, said = everyone[0], []
  for i, rec in enumerate(everyone[1:], 1):
    if "workdir" in rec and rec["workdir"] != first["workdir"]:
      said.append(f"process {i} does not see the folder process 0 locked")
    keys = _keys_that_differ(rec.get("config"), first.get("config"))
    if keys:
      said.append(f"process {i} has other " + ", ".join(f"config.{k}" for k in keys))
    splits = _keys_that_differ(rec.get("data"), first.get("data"))
    if splits:
      said.append(f"process {i} reads other data (splits {', '.join(splits)})")
    if rec.get("step") != first.get("step"):
      said.append(f"process {i} sees the latest checkpoint at step {rec.get('step')}, "
                  f"process 0 at {first.get('step')}")
  return said


def _raise_if_they_differ(everyone: list[dict], workdir: str) -> None:
  said = differences(everyone)
  if not said:
    return
  what = f"the {len(everyone)} processes of this run differ: {'; '.join(said)}"
  if any("does not see the folder" in s for s in said):
    raise WorkdirError(f"workdir={workdir}: {what}; put the workdir on a filesystem "
                       "every host shares")
  advice = "start every process with the same command on the same data"
  if any("latest checkpoint" in s for s in said):
    advice += (", on a filesystem that shows every host the same checkpoints (these "
               "differed for a minute)")
  raise TrainingError(f"workdir={workdir}: {what}; {advice}")


def _ask_together(ask: Callable[[], Any], missing: Callable[[list], bool], warning: str,
                  workdir: str) -> list:
  """Every process's ``ask()``, gathered; asked again each second, together,
  while ``missing(everyone)``, for up to ``PROBE_TRIES`` rounds. An NFS client
  may cache a name's absence or a folder's listing for up to acdirmax (60 s
  by default); a process waiting alone in a collective would meet gloo's 30 s
  timeout, so they all wait together."""
  for k in range(PROBE_TRIES):
    everyone = distributed.gather_json(ask())
    if not missing(everyone) or k == PROBE_TRIES - 1:
      return everyone
    if k == 0 and jax.process_index() == 0:
      logging.warning("workdir=%s: %s; asking again each second for up to a minute",
                      workdir, warning)
    time.sleep(1.0)


def check_start(config, workdir: str, token: str | None) -> None:
  """At the start, after process 0 took the workdir and wrote ``token`` to
  it (None elsewhere): every process sees that token and runs the same
  config, or every process raises. Process 0 removes the token again,
  whatever happens (a refused start leaves no file of its own)."""
  if jax.process_count() == 1:
    return
  first = jax.process_index() == 0
  record = lambda: {"workdir": token if first else workdir_lib.read_probe(workdir),
                    "config": config_record(config)}
  try:
    everyone = _ask_together(record, lambda e: any(r["workdir"] is None for r in e),
                             "not every process sees it yet", workdir)
  finally:
    if first:
      workdir_lib.remove_probe(workdir)
  _raise_if_they_differ(everyone, workdir)


def check_resume_point(workdir: str, data: dict, latest: Callable[[], int | None]) -> None:
  """Once the data is open, before any folder is made or anything restored:
  every process read the same data (``data``: ``trainer.data_fingerprint``)
  and lists the same latest checkpoint step (``latest()``; None: none), or
  every process raises. The listing is asked again for a while when only it
  differs (a host's cached listing of a checkpoint just saved)."""
  if jax.process_count() == 1:
    return
  everyone = _ask_together(lambda: {"data": data, "step": latest()},
                           lambda e: len({json.dumps(r["step"]) for r in e}) > 1,
                           "the processes list other latest checkpoints", workdir)
  _raise_if_they_differ(everyone, workdir)
