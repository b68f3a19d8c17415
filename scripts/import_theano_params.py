"""Imports the original (Theano) model's parameters into a workdir, or exports them.

  python scripts/import_theano_params.py --src params_e16_i91000.pkl \
      --config configs/dcase2016.py --workdir runs/original [--n_classes 15]
  python scripts/import_theano_params.py --export params.pkl --workdir runs/paper \
      [--ckpt best|latest|STEP]

Import: ``--src`` is the original's parameter file (``lib.save_params``: a
Python 2 pickle of {name: ndarray}) or an ``.npz`` with the same names; the
config (with ``--config.KEY=VALUE`` overrides) must describe the original's
model. The workdir then holds step 0, which train.py resumes from and
sample.py and score.py read. A missing, unexpected or misshapen parameter, or
a workdir that already holds checkpoints, is refused and nothing is written.

Export: a checkpoint's parameters under the original's names, as a pickle
(``.pkl``, loadable by the original's ``lib.load_params``) or an ``.npz``;
the names follow the checkpoint's own config.
"""
import json


from absl import app, flags
from ml_collections import config_flags

from samplernn_jax import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "import: the config of the original's model (a configs/*.py file)")
_SRC = flags.DEFINE_string("src", "", "import: the original's params_*.pkl (or .npz)")
_WORKDIR = flags.DEFINE_string("workdir", "", "run folder to write (import) or read (export)")
_N_CLASSES = flags.DEFINE_integer("n_classes", 0, "import: number of classes of the "
                                  "original's model, when config.n_classes is 0")
_EXPORT = flags.DEFINE_string("export", "", "export: file to write (.pkl or .npz)")
_CKPT = flags.DEFINE_string("ckpt", "latest", "export: best, latest or a step number")


def _run():
  from samplernn_jax import config as config_lib
  from samplernn_jax import theano_params
  if not _WORKDIR.value:
    raise ValueError("--workdir is required")
  if _EXPORT.value:
    if _SRC.value or _CONFIG.value is not None or _N_CLASSES.value:
      raise ValueError("--export reads the names and config from the checkpoint; "
                       "drop --src, --config and --n_classes")
    summary = theano_params.export_original(_WORKDIR.value, _EXPORT.value, _CKPT.value)
  else:
    if not _SRC.value:
      raise ValueError("give --src FILE to import (or --export FILE to export)")
    if _CONFIG.value is None:
      raise ValueError("--config is required to import: the configs/*.py file of "
                       "the original's model (e.g. configs/dcase2016.py)")
    config = cli.config_value(_CONFIG, config_lib.check_complete)
    summary = theano_params.import_original(_SRC.value, config, _WORKDIR.value,
                                      _N_CLASSES.value)
  print(json.dumps(summary))


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
