"""Data parallelism: a 1-D 'data' mesh over every device of every process.

Parameters and optimizer state are replicated; batches and the carried RNN
state are split along the batch axis (``P('data')``). ``jax.jit`` with these
shardings is the data-parallel step: XLA inserts the gradient all-reduce.
The same code runs on one CPU, on 8 fake CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=8``), on N GPUs and on
several hosts (after ``jax.distributed.initialize``).
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def make_mesh() -> Mesh:
  # Built from the device array directly: its axis type is Auto (in
  # recent JAX, jax.make_mesh defaults to Explicit axes).
  return Mesh(np.array(jax.devices()), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def train_state_sharding(state, mesh: Mesh):
  """Shardings of a TrainState (arrays or shapes): everything replicated but
  the carried RNN state, split along the batch as the batches are."""
  rep, data = replicated(mesh), batch_sharded(mesh)
  return jax.tree.map(lambda _: rep, state).replace(
      rnn_state=jax.tree.map(lambda _: data, state.rnn_state))


def check_batch_size(batch_size: int, mesh: Mesh, setting: str = "config.batch_size") -> None:
  n = mesh.devices.size
  if batch_size % n:
    raise ValueError(f"{setting}={batch_size} does not divide by the {n} devices "
                     f"({jax.devices()[0].platform}); use a multiple of {n}")


def put_batch(batch: dict, mesh: Mesh) -> dict:
  """This process's rows of a batch -> global arrays sharded over 'data'."""
  sharding = batch_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}


def put_replicated(tree, mesh: Mesh):
  """Host values (the same on every process) -> replicated global arrays."""
  sharding = replicated(mesh)
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree)
