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
from absl import app, flags

from samplernn_jax import cli, packing

_SRC = flags.DEFINE_string("src", None, "folder with one sub-folder per class", required=True)
_OUT = flags.DEFINE_string("out", None, "output folder for the npz splits", required=True)
_CLIP_SECONDS = flags.DEFINE_float("clip_seconds", packing.DEFAULT_CLIP_SECONDS,
                                   "length of each clip")
_SAMPLE_RATE = flags.DEFINE_integer("sample_rate", packing.DEFAULT_SAMPLE_RATE,
                                    "rate the recordings are resampled to")
_VALID = flags.DEFINE_float("valid", 0.1, "fraction of each class's recordings for validation")
_TEST = flags.DEFINE_float("test", 0.1, "fraction of each class's recordings for test")
_SEED = flags.DEFINE_integer("seed", 0, "seed of the recording split")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "replace npz files already in --out")
_NO_PROGRESS = flags.DEFINE_bool("no_progress", False, "no progress bars")


def _run():
  summary = packing.pack_folder(_SRC.value, _OUT.value, _CLIP_SECONDS.value,
                                _SAMPLE_RATE.value, _VALID.value, _TEST.value, _SEED.value,
                                _OVERWRITE.value, progress=not _NO_PROGRESS.value)
  print(packing.format_summary(summary))


def main(argv=None):
  """pack_folder.py in this process (flags only; every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
