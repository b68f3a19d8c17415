"""The default run: what ``python train.py`` with no arguments trains.

A small model (dim 128, two GRU layers) on the project's bundled recordings
(data/default: five ambience classes from 0 A.D., CC BY-SA 3.0, see
data/README.md; packed into data/default/.packed on first use), sized to
finish on two CPU cores in about ten minutes, then
``python sample.py --workdir runs/default`` writes clips of every class.

  python train.py   # same as: --config configs/default.py --workdir runs/default
"""
from samplernn_jax.config import base_config


def get_config():
  config = base_config()
  config.data_dir = "data/default"
  config.dim = 128
  config.n_rnn = 2
  config.emb_size = 32
  config.batch_size = 16
  config.seq_len = 512
  config.num_epochs = 100
  config.max_steps = 4500
  config.eval_every_steps = 1500
  config.eval_batch_size = 32
  config.sample_l1 = "table"  # measured faster than the matmul here on CPU
  config.log_every_steps = 50
  config.checkpoint_every_steps = 250
  config.sample_every_evals = 0
  return config
