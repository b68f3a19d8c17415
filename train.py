"""Trains conditional SampleRNN; resumes when the workdir holds a checkpoint.

  python train.py --config configs/tiny.py            # into runs/tiny
  python train.py --config configs/dcase2016.py --config.data_dir=D --workdir runs/paper
"""
import os


from absl import app, flags
from ml_collections import config_flags

from samplernn_jax import cli

_DEFAULT_CONFIG = cli.loadable_config_path(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.py"))
_CONFIG = cli.define_config(config_flags.DEFINE_config_file, "config", _DEFAULT_CONFIG,
                            "experiment config (a configs/*.py file); set any of its "
                            "keys with --config.KEY=VALUE, e.g. --config.max_steps=100")
_WORKDIR = flags.DEFINE_string("workdir", "", "run folder: checkpoints, logs, samples; "
                                "default runs/<the config file's name>, e.g. runs/default")
_DISTRIBUTED = flags.DEFINE_bool("distributed", False,
                                 "join a multi-host run detected by JAX (SLURM, Open MPI)")
_COORDINATOR = flags.DEFINE_string("coordinator", "", "multi-host: address:port of process 0")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 0, "multi-host: number of processes")
_PROCESS_ID = flags.DEFINE_integer("process_id", -1, "multi-host: this process's index")


def _run():
  from samplernn_jax import config as config_lib
  from samplernn_jax import distributed, trainer
  distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                         auto=_DISTRIBUTED.value)
  config = cli.config_value(_CONFIG, config_lib.check_complete)
  workdir = _WORKDIR.value
  if not workdir:
    workdir = cli.default_workdir(config_flags.get_config_filename(flags.FLAGS["config"]))
    print(f"workdir {workdir} (named after --config; --workdir chooses another)")
  trainer.train_and_evaluate(config, workdir)


def main(argv=None):
  """train.py in this process (flags only; every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
