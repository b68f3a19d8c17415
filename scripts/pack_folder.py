"""Packs a class-folder tree of recordings into the paper's npz splits.

  python scripts/pack_folder.py --src DIR --out datasets/mine

DIR holds one sub-folder per class (folder name = class name; sorted order =
class index); every file below a class folder is one recording in any format
soundfile reads (WAV, FLAC, OGG, ...), any rate and channel count. Each is
averaged to mono, resampled to --sample_rate and cut into --clip_seconds clips.
Recordings (never clips) are split at random (--seed) into train / valid /
test, per class, so no recording gives clips to two splits. Writes
audio_{train,valid,test}.npz (wav float16 [clips, samples], sid uint8) and
classes.json; an empty split is reported and not written. See
samplernn_jax/packing.py.
"""
import argparse
import sys


from samplernn_jax import packing
from samplernn_jax.data import DataError


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--src", required=True, help="folder with one sub-folder per class")
  p.add_argument("--out", required=True, help="output folder for the npz splits")
  p.add_argument("--clip_seconds", type=float, default=packing.DEFAULT_CLIP_SECONDS)
  p.add_argument("--sample_rate", type=int, default=packing.DEFAULT_SAMPLE_RATE)
  p.add_argument("--valid", type=float, default=0.1,
                 help="fraction of each class's recordings for validation")
  p.add_argument("--test", type=float, default=0.1,
                 help="fraction of each class's recordings for test")
  p.add_argument("--seed", type=int, default=0, help="seed of the recording split")
  p.add_argument("--overwrite", action="store_true",
                 help="replace npz files already in --out")
  p.add_argument("--no_progress", action="store_true", help="no progress bars")
  a = p.parse_args(argv)
  try:
    packing.pack_folder(a.src, a.out, a.clip_seconds, a.sample_rate, a.valid, a.test,
                        a.seed, a.overwrite, progress=not a.no_progress)
  except DataError as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  main()
