"""Several processes (hosts) as one JAX runtime, for data-parallel training.

``initialize`` wraps ``jax.distributed.initialize``: with ``auto=True``
(train.py ``--distributed``) it lets JAX detect the cluster (SLURM, Open
MPI); with ``coordinator`` / ``num_processes`` / ``process_id`` it uses
them; with none of these it does nothing (one process). Each process then
sees every device in ``jax.devices()``, the 'data' mesh spans them all, each
process feeds only its rows of every batch (``data.TrainBatches``) and only
process 0 writes logs and samples. On CPU, collectives go through gloo.
"""
from __future__ import annotations

import jax


def initialize(coordinator: str = "", num_processes: int = 0, process_id: int = -1,
               auto: bool = False) -> bool:
  """Joins the distributed runtime when asked to; returns whether it did."""
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
  if explicit:
    jax.distributed.initialize(coordinator_address=coordinator,
                               num_processes=num_processes, process_id=process_id)
  else:
    jax.distributed.initialize()
  return True
