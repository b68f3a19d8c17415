"""Three tiers, the ICLR 2017 SampleRNN layout, with the paper's conditioning.

Frame sizes (8, 2): the top tier steps every 8 samples and conditions a middle
tier stepping every 2 samples, which conditions the sample-level MLP (that sees
the previous 2 samples). One GRU layer per tier, dim 1024, TBPTT over 512
samples (the ICLR code's 64 frames of 8), class one-hot at the top tier.

  python train.py --config configs/three_tier.py \
      --config.data_dir=/path/to/datasets --workdir runs/three_tier
"""
from samplernn_jax.config import base_config


def get_config():
  config = base_config()
  config.data_dir = "datasets"
  config.frame_size = 8
  config.frame_sizes = (8, 2)
  config.n_rnn = 1
  config.seq_len = 512
  return config
