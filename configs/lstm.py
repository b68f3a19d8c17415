"""The paper's model with LSTM frame-tier layers instead of GRU.

As the original's LSTM: gates input, forget, output, candidate; no biases in
the input and recurrent projections, one gate bias with the forget gate
initialised to 3; the state holds hidden and cell (h0 is [n_rnn, 2 * dim]).

  python train.py --config configs/lstm.py \
      --config.data_dir=/path/to/datasets --workdir runs/lstm
"""
from samplernn_jax.config import base_config


def get_config():
  config = base_config()
  config.data_dir = "datasets"
  config.rnn_type = "LSTM"
  return config
