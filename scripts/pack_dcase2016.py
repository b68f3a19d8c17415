"""Packs TUT Acoustic Scenes 2016 (DCASE 2016 task 1) into the paper's npz splits.

  python scripts/pack_dcase2016.py --src TUT-acoustic-scenes-2016-development \\
      [--eval_src TUT-acoustic-scenes-2016-evaluation] --out datasets

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
from absl import app, flags

from samplernn_jax import cli, packing

_SRC = flags.DEFINE_string("src", None, "TUT-acoustic-scenes-2016-development folder",
                           required=True)
_EVAL_SRC = flags.DEFINE_string(
    "eval_src", None,
    "TUT-acoustic-scenes-2016-evaluation folder (labelled meta.txt): the test split")
_OUT = flags.DEFINE_string("out", None, "output folder for the npz splits", required=True)
_FOLD = flags.DEFINE_integer("fold", 1, "cross-validation fold 1..4")
_CLIP_SECONDS = flags.DEFINE_float("clip_seconds", packing.DEFAULT_CLIP_SECONDS,
                                   "length of each clip")
_SAMPLE_RATE = flags.DEFINE_integer("sample_rate", packing.DEFAULT_SAMPLE_RATE,
                                    "rate the recordings are resampled to")
_SEED = flags.DEFINE_integer(
    "seed", 0, "seed of the valid/test split of the evaluate list (no --eval_src)")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "replace npz files already in --out")
_NO_PROGRESS = flags.DEFINE_bool("no_progress", False, "no progress bars")


def _run():
  summary = packing.pack_dcase2016(_SRC.value, _OUT.value, _EVAL_SRC.value, _FOLD.value,
                                   _CLIP_SECONDS.value, _SAMPLE_RATE.value, _SEED.value,
                                   _OVERWRITE.value, progress=not _NO_PROGRESS.value)
  print(packing.format_summary(summary))


def main(argv=None):
  """pack_dcase2016.py in this process (flags only; every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
