"""Small helpers for the benchmark scripts: configs by name, device, date, output.

Imports nothing heavier than jax and the package's config module (no audio
I/O), so a benchmark's import path stays that of the code it measures.
"""
import datetime
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as `python benchmarks/x.py` from anywhere
  sys.path.insert(0, ROOT)

# Short names for the configs the benchmarks measure; other values are paths.
CONFIGS = {"tiny": "configs/tiny.py", "paper": "configs/dcase2016.py"}
# Classes of a config whose n_classes comes from the data (0): tiny's 4 textures.
DEFAULT_CLASSES = {"paper": 15, "tiny": 4}


def load_config(name: str):
  """``get_config()`` of configs/<name>.py by short name or path, and its class count."""
  from samplernn_jax import config as config_lib
  path = CONFIGS.get(name, name)
  if not os.path.isabs(path):
    path = os.path.join(ROOT, path)
  config = config_lib.load_config_file(path)
  n_classes = int(config.n_classes) or DEFAULT_CLASSES.get(name, 4)
  return config, n_classes


def device_kind() -> str:
  import jax
  return jax.devices()[0].device_kind


def on_cpu() -> bool:
  import jax
  return jax.devices()[0].platform == "cpu"


def today() -> str:
  return datetime.date.today().isoformat()


def emit(row: dict) -> None:
  """One JSON object per line on stdout, flushed (a partial run keeps its rows)."""
  print(json.dumps(row), flush=True)
