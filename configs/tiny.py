"""A CPU-sized model for tests and a first look: trains in about a minute.

Two tiers as the paper (frame size 16) but dim 64, two GRU layers, embedding
size 16, on the project's generated data (``data_dir=synthetic``: four
textures, tone / rumble / chirp / clicks, see samplernn_jax/synthetic.py).

  python train.py --config configs/tiny.py --workdir runs/tiny

The train cost falls from about 8 bits to below 4 bits per sample within the
run's 600 steps.
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
