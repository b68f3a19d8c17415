"""The default run: what ``python train.py`` with no arguments trains.

A small model (dim 128, two GRU layers) on the project's bundled data, sized
to finish on two CPU cores in about ten minutes, then
``python sample.py --workdir runs/default`` writes clips of every class.

  python train.py   # same as: --config configs/default.py --workdir runs/default
"""
from samplernn_jax.config import base_config


def get_config():
  config = base_config()
  config.data_dir = "synthetic"
  config.dim = 128
  config.n_rnn = 2
  config.emb_size = 32
  config.batch_size = 16
  config.seq_len = 512
  config.num_epochs = 100
  config.max_steps = 1500
  config.eval_every_steps = 500
  config.log_every_steps = 50
  config.checkpoint_every_steps = 250
  config.sample_every_evals = 0
  return config
