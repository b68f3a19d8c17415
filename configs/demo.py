"""The demo model shipped in demo/: bigger than the ten-minute default and
conditioned at both tiers, so that every bundled class comes out recognisable
(docs/quality.md has the measurements that chose it).

Differences from configs/default.py: dim 256 (was 128), sample embedding 64
(was 32), the class vector also fed to the sample tier
(``cond_sample_tier``), 12 000 steps with an evaluation every 3 000.
demo/README.md gives the command, machine, wall time and the step kept.

  python train.py --config configs/demo.py --workdir runs/demo
"""
from samplernn_jax.config import base_config


def get_config():
  config = base_config()
  config.data_dir = "data/default"
  config.dim = 256
  config.n_rnn = 2
  config.emb_size = 64
  config.cond_sample_tier = True
  config.batch_size = 16
  config.seq_len = 512
  config.num_epochs = 100
  config.max_steps = 12000
  config.eval_every_steps = 3000
  config.eval_batch_size = 32
  config.sample_l1 = "table"
  config.log_every_steps = 50
  config.checkpoint_every_steps = 250
  config.sample_every_evals = 0
  return config
