"""Packs TUT Acoustic Scenes 2016 (DCASE 2016 task 1) into the paper's npz splits.

  python scripts/pack_dcase2016.py --src TUT-acoustic-scenes-2016-development \\
      [--eval_src TUT-acoustic-scenes-2016-evaluation] --out datasets/dcase2016

Each 30 s binaural 44.1 kHz recording is averaged to mono, resampled to 16 kHz
(polyphase) and cut into non-overlapping 8 s clips (the 6 s remainder is
dropped). Split mapping (by recording; a recording is never in two splits):

  train  <- evaluation_setup/fold{N}_train.txt
  valid  <- evaluation_setup/fold{N}_evaluate.txt
  test   <- every recording of --eval_src (its labelled meta.txt)

Without --eval_src, the recordings of fold{N}_evaluate.txt are split by
recording location (seeded, about half of each class's locations each) into
valid and test: fold{N}_test.txt lists the same recordings as the evaluate
list, unlabelled, so it is no separate test set.

Writes audio_{train,valid,test}.npz (wav float16 [clips, 128000], sid uint8 in
the paper's class order) and classes.json. See samplernn_jax/packing.py.
"""
import argparse
import sys


from samplernn_jax import packing
from samplernn_jax.data import DataError


def main(argv=None):
  p = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0],
      epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--src", required=True, help="TUT-acoustic-scenes-2016-development folder")
  p.add_argument("--eval_src", default=None,
                 help="TUT-acoustic-scenes-2016-evaluation folder (labelled meta.txt): the test split")
  p.add_argument("--out", required=True, help="output folder for the npz splits")
  p.add_argument("--fold", type=int, default=1, help="cross-validation fold 1..4")
  p.add_argument("--clip_seconds", type=float, default=packing.DEFAULT_CLIP_SECONDS)
  p.add_argument("--sample_rate", type=int, default=packing.DEFAULT_SAMPLE_RATE)
  p.add_argument("--seed", type=int, default=0,
                 help="seed of the valid/test split of the evaluate list (no --eval_src)")
  p.add_argument("--overwrite", action="store_true",
                 help="replace npz files already in --out")
  p.add_argument("--no_progress", action="store_true", help="no progress bars")
  a = p.parse_args(argv)
  try:
    packing.pack_dcase2016(a.src, a.out, a.eval_src, a.fold, a.clip_seconds,
                           a.sample_rate, a.seed, a.overwrite, progress=not a.no_progress)
  except DataError as e:
    sys.exit(f"error: {e}")


if __name__ == "__main__":
  main()
