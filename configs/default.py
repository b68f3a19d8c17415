"""The default run: what ``python train.py`` with no arguments trains.

Exactly the demo's config (configs/demo.py: dim 256, two GRU layers, the
class fed to both tiers, quiet passages cut from the training clips, classes
balanced, 6 000 steps) on the project's bundled recordings (data/default:
five ambience classes from 0 A.D., CC BY-SA 3.0, see data/README.md; packed
into data/default/.packed on first use): about a quarter of an hour on two
CPU cores, and the same parameters as the shipped demo (training is
deterministic; checked on a CPU with the versions of constraints.txt; a GPU
or other jax versions sum in another order and end elsewhere). Then
``python sample.py --workdir runs/default`` writes clips of every class.
docs/quality.md has the numbers of this and of the earlier defaults.

  python train.py   # same as: --config configs/default.py --workdir runs/default
"""
import os

from samplernn_jax.config import load_config_file


def get_config():
  config = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "demo.py"))
  return config
