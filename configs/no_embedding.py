"""The paper's model without the sample embedding: one-hot sample input.

``emb_size=0`` as in the original: the previous 16 samples enter the sample
tier as one-hot vectors (16 x 256 inputs to its first Linear). Computed as 16
row look-ups, never as a [batch, time, 4096] one-hot tensor. Set
``--config.sample_input=real`` for real-valued input (16 dequantised values).

  python train.py --config configs/no_embedding.py \
      --config.data_dir=/path/to/datasets --workdir runs/no_embedding
"""
from samplernn_jax.config import base_config


def get_config():
  config = base_config()
  config.data_dir = "datasets"
  config.emb_size = 0
  config.sample_input = "one_hot"
  return config
