"""The paper's model with a learned class embedding instead of the one-hot.

The class enters as a learned 32-dim vector (``cond_type='embedding'``) at the
top tier and, through a projection, at the sample tier too
(``cond_sample_tier=True``). Mixes of classes (sample.py --mix) mix the
embeddings.

  python train.py --config configs/class_embedding.py \
      --config.data_dir=/path/to/datasets --workdir runs/class_embedding
"""
from samplernn_jax.config import base_config


def get_config():
  config = base_config()
  config.data_dir = "datasets"
  config.cond_type = "embedding"
  config.cond_emb_size = 32
  config.cond_sample_tier = True
  return config
