"""Several processes (hosts) as one JAX runtime, for data-parallel training.

``initialize`` wraps ``jax.distributed.initialize``: with ``auto=True``
(train.py ``--distributed``) it lets JAX detect the cluster (SLURM, Open
MPI); with ``coordinator`` / ``num_processes`` / ``process_id`` it uses
them; with none of these it does nothing (one process). Each process then
sees every device in ``jax.devices()``, the 'data' mesh spans them all, each
process feeds only its rows of every batch (``data.TrainBatches``) and only
process 0 writes logs and samples. On CPU, collectives go through gloo.

``agree_on_stop`` lets every process stop at the same step when one of them
got SIGTERM or Ctrl-C (a scheduler may signal one host, or the hosts at
different moments); the trainer's start uses ``max_over_processes`` so that
the others stop when process 0 cannot take the workdir, and ``gather_json``
to refuse processes that differ in config, data, workdir or checkpoint.
"""
from __future__ import annotations

import json
import re
from typing import Mapping

import jax
import numpy as np
from jax.experimental import multihost_utils


def initialize(coordinator: str = "", num_processes: int = 0, process_id: int = -1,
               auto: bool = False) -> bool:
  """Joins the distributed runtime when asked to; returns whether it did.

  Joining also sets two of JAX's process-wide options before it: the CPU
  collectives to gloo, and JAX's preemption service off (SIGTERM stays the
  trainer's, below)."""
  explicit = bool(coordinator) or num_processes > 0 or process_id >= 0
  if not explicit and not auto:
    return False
  if explicit and not (coordinator and num_processes > 0 and process_id >= 0):
    raise ValueError("coordinator, num_processes and process_id go together "
                     "(e.g. coordinator=10.0.0.1:1234 num_processes=2 process_id=0)")
  if explicit and not 0 <= process_id < num_processes:
    raise ValueError(f"process_id={process_id}: expected 0 .. {num_processes - 1}")
  try:
    # Harmless on GPU hosts; needed for cross-process collectives on CPU.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  except Exception:  # older or newer JAX without the option
    pass
  # SIGTERM is the trainer's to handle (signals.StopRequests; the processes
  # agree in agree_on_stop). JAX's preemption service installs a C++ handler
  # here: a SIGTERM landing before the trainer's own (while the run starts)
  # was swallowed by it and the run went on, the scheduler's notice lost.
  # Without it such a signal ends the process, as in a one-process run.
  try:
    jax.config.update("jax_enable_preemption_service", False)
  except Exception:  # a JAX without the option has no such service
    pass
  if explicit:
    jax.distributed.initialize(coordinator_address=coordinator,
                               num_processes=num_processes, process_id=process_id)
  else:
    try:
      jax.distributed.initialize()
    except ValueError as e:  # JAX names only what it lacked
      raise ValueError(f"--distributed: JAX found no cluster to join ({e}); it reads SLURM's "
                       "or Open MPI's environment. Elsewhere give --coordinator, "
                       "--num_processes and --process_id") from e
  return True


def agree_on_stop(requested: int | None) -> int | None:
  """The signal number any process received (the highest), or None; every
  process must call it at the same step. A process that stopped alone would
  leave the others waiting in the next step's all-reduce and itself waiting
  in the checkpoint save for theirs, until the scheduler kills them all."""
  return max_over_processes(requested or 0) or None


def max_over_processes(value: int) -> int:
  """The largest of every process's ``value`` (each process must call it)."""
  if jax.process_count() == 1:
    return value
  return int(np.max(multihost_utils.process_allgather(np.int32(value))))


def gather_json(value) -> list:
  """Every process's ``value`` (anything ``json.dumps`` takes), in process
  order (each process must call it); ``[value]`` in a one-process run. The
  trainer's start compares them (``agreement``): the processes of one run
  must run one config on one data set and workdir."""
  if jax.process_count() == 1:
    return [value]
  text = np.frombuffer(json.dumps(value, sort_keys=True).encode(), np.uint8)
  rows = np.zeros(max_over_processes(len(text)), np.uint8)
  rows[:len(text)] = text  # JSON text holds no NUL byte: the padding is stripped
  everyone = np.asarray(multihost_utils.process_allgather(rows))  # [P, n]
  return [json.loads(bytes(r).rstrip(b"\0").decode()) for r in everyone]


def idle_gpus_warning(env: Mapping[str, str], local_devices: int) -> str | None:
  """A warning when SLURM gave this node more GPUs than its tasks use: JAX
  gives each task under SLURM one device (its local rank's), so one task per
  node with 8 GPUs trains on one of them, with no error. None otherwise (or
  outside SLURM)."""
  counts = [re.match(r"\d+", env.get(k, "")) for k in  # e.g. "8(x2)"
            ("SLURM_GPUS_ON_NODE", "SLURM_NTASKS_PER_NODE")]
  if not all(counts):
    return None
  gpus, tasks = (int(m.group()) for m in counts)
  if gpus <= tasks * local_devices:
    return None
  return (f"SLURM gives this node {gpus} GPUs and {tasks} task(s), and JAX each task "
          f"{local_devices} device(s): {gpus - tasks * local_devices} GPUs idle; start "
          f"one task per GPU (--ntasks-per-node={gpus})")
