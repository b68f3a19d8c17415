"""The paper's model with the original's skip connections in the frame tier.

Each GRU layer after the first also sees the tier input (concatenated after
the previous layer's output), and the tier's output layer reads the sum of
one projection per layer (bias on the first only) instead of the last
layer's state.

  python train.py --config configs/skip.py \
      --config.data_dir=/path/to/datasets --workdir runs/skip
"""
from samplernn_jax.config import base_config


def get_config():
  config = base_config()
  config.data_dir = "datasets"
  config.skip_conn = True
  return config
