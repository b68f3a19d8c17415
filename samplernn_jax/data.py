"""The data API in one import, for notebooks and scripts:
``from samplernn_jax import data``.

The library's own modules import the parts directly:

* ``splits.py``: npz splits (``wav`` [N, W], ``sid`` [N]), validated and
  memory-mapped; class names;
* ``batches.py``: TBPTT batches for training (addressable by step) and
  evaluation;
* ``datasets.py``: a ``data_dir`` as a user gives it (npz folder, class
  folders, repository-relative, ``synthetic``) -> its splits.
"""
from samplernn_jax.batches import (Position, TrainBatches, balanced_order, batch_spec, chunk,
                                   clip_dither, epoch_order, eval_batches, num_chunks,
                                   prepare_clips)
from samplernn_jax.datasets import (PACKED, REPO_ROOT, Dataset, open_dataset,
                                    pack_class_folders, resolve_data_dir)
from samplernn_jax.errors import DataError
from samplernn_jax.splits import (CLASSES_FILE, DCASE2016_CLASSES, SPLITS,
                                  Split, check_finite, load_class_names,
                                  load_split, split_path, write_class_names)

__all__ = ["CLASSES_FILE", "DCASE2016_CLASSES", "PACKED", "REPO_ROOT", "SPLITS",
           "DataError", "Dataset", "Position", "Split", "TrainBatches", "balanced_order",
           "batch_spec", "check_finite",
           "chunk", "clip_dither", "epoch_order", "eval_batches", "load_class_names",
           "load_split", "num_chunks", "open_dataset", "pack_class_folders",
           "prepare_clips", "resolve_data_dir", "split_path", "write_class_names"]
