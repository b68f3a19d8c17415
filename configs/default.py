"""The default run: what ``python train.py`` with no arguments trains.

The demo's model (configs/demo.py: dim 256, two GRU layers, the class fed to
both tiers) on the project's bundled recordings (data/default: five ambience
classes from 0 A.D., CC BY-SA 3.0, see data/README.md; packed into
data/default/.packed on first use), stopped at 6 000 steps: about a quarter
of an hour on two CPU cores. Then ``python sample.py --workdir runs/default``
writes clips of every class. The smaller model this file trained until
2026-11-30 (dim 128, class at the top tier only) learned as well by its
cost but generated clips that fall silent; docs/quality.md has the numbers.

  python train.py   # same as: --config configs/default.py --workdir runs/default
"""
import os

from samplernn_jax.config import load_config_file


def get_config():
  config = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "demo.py"))
  config.max_steps = 6000
  return config
