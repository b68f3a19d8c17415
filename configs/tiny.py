"""A CPU-sized model for tests and a first look: trains in about a minute.

Two tiers as the paper (frame size 16) but dim 64, two GRU layers, embedding
size 16, on the project's generated data (``data_dir=synthetic``: four
textures, tone / rumble / chirp / clicks, see samplernn_jax/synthetic.py).

  python train.py --config configs/tiny.py --workdir runs/tiny

Over the run's 600 steps (0.8 of an epoch: max_steps ends it before
num_epochs) the train cost falls from about 8.5 bits per sample to about 4.3,
the valid and test costs to about 5.3 (2026-12-01, 2-core CPU, about a
minute). ``sample_seconds`` is the length of the training samples written
when ``--config.sample_every_evals`` turns them on (off by default).
"""
from samplernn_jax.config import base_config


def get_config():
  config = base_config()
  config.data_dir = "synthetic"
  config.dim = 64
  config.n_rnn = 2
  config.emb_size = 16
  config.batch_size = 8
  config.seq_len = 256
  config.num_epochs = 5
  config.max_steps = 600
  config.eval_every_steps = 200
  config.log_every_steps = 25
  config.checkpoint_every_steps = 100
  config.max_eval_clips = 0
  config.sample_seconds = 1.0
  return config
