"""Data parallelism: a 1-D 'data' mesh over every device of every process.

Parameters and optimizer state are replicated; batches and the carried RNN
state are split along the batch axis (``P('data')``). ``jax.jit`` with these
shardings is the data-parallel step: XLA inserts the gradient all-reduce.
The same code runs on one CPU, on 8 fake CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=8``), on N GPUs and on
several hosts (after ``jax.distributed.initialize``).

XLA cannot split a Pallas kernel's call over the batch: given batch-sharded
operands it would gather the whole batch onto every device. The library's
kernel calls therefore go through ``per_device``, which runs them on each
device's rows (a ``jax.shard_map``) whenever a mesh of several devices is in
context; the steps are jitted and called under the mesh (``under_mesh``)
for that.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

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


def under_mesh(fn: Callable, mesh: Mesh) -> Callable:
  """``fn`` called with ``mesh`` in context (``jax.set_mesh``): a jitted step
  wrapped so is traced under it, where ``batch_mesh`` sees the mesh."""
  @functools.wraps(fn)
  def call(*args, **kwargs):
    with jax.set_mesh(mesh):
      return fn(*args, **kwargs)
  return call


def batch_mesh():
  """The mesh in context (``jax.set_mesh``) when it splits the batch over
  several devices (a 'data' axis longer than 1), else None: what
  ``per_device`` is given, read once where a kernel's forward is traced so
  its backward splits the rows the same way wherever that is traced."""
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty or mesh.size == 1:
    return None
  if "data" not in mesh.axis_names:
    raise ValueError(f"a mesh of {mesh.size} devices with axes {mesh.axis_names}: the Pallas "
                     "kernels (config.rnn_kernel='pallas', config.sample_l1='table_pallas') "
                     "split the batch over a 'data' axis; name the batch axis 'data'")
  return mesh if mesh.shape["data"] > 1 else None


def _split_at(axis: int | None) -> P:
  return P() if axis is None else P(*([None] * axis), "data")


def per_device(fn: Callable, in_axes: Sequence[int | None], out_axes: Sequence[int] | int,
               mesh) -> Callable:
  """``fn`` run on each device's rows of the batch (a ``jax.shard_map`` over
  ``mesh``'s 'data' axis); ``fn`` itself when ``mesh`` is None (``batch_mesh``
  without a mesh of several devices). For what XLA cannot split over the
  batch itself, Pallas calls: given batch-sharded operands it would gather
  them onto every device. The step must be traced under its mesh
  (``under_mesh``, as the trainer does) for ``batch_mesh`` to see it.

  Args:
    fn: a function of arrays, returning a tuple of arrays (or one array).
    in_axes: per argument, the axis its batch rows are on, or None for an
      argument every device holds whole (weights).
    out_axes: per output (one int for a single output), its batch axis. An
      output that sums over the rows (a gradient) is each device's partial
      sum, stacked along that axis; ``sum_parts`` adds them up.
    mesh: ``batch_mesh()`` (an abstract mesh) or None.
  """
  if mesh is None:
    return fn
  specs = (tuple(_split_at(a) for a in out_axes) if isinstance(out_axes, Sequence)
           else _split_at(out_axes))
  # the kernels' outputs carry no replication types (check_vma): every
  # output is declared split, so none is assumed equal across devices
  return jax.shard_map(fn, mesh=mesh, in_specs=tuple(_split_at(a) for a in in_axes),
                       out_specs=specs, check_vma=False)


def sum_parts(x: jax.Array, rows: int) -> jax.Array:
  """The sum of ``per_device``'s partial sums, stacked along axis 0 in
  blocks of ``rows`` (one block without a mesh): [n * rows, ...] -> [rows, ...]."""
  return x.reshape(-1, rows, *x.shape[1:]).sum(0)
