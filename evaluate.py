"""Evaluates generated scenes as the paper does (docs/paper.md, Reported figures).

  python evaluate.py --data_dir D --samples DIR [--workdir W] [--overwrite] \\
      [--baseline random] [--epochs N] [--window_seconds S]

Trains (or reuses) f_real on D's real training split, scores it on the real
test split and on DIR's clips, trains f_gen on DIR's clips and scores it on
the real test split, and measures Frechet distances between the classifier's
embeddings of real and generated clips. Writes eval.json, confusion matrices
and report.html to ``<DIR>/eval/`` (or --out_dir), f_gen with them; --workdir
holds only f_real, so one can serve several sample directories.
The steps and file formats: samplernn_jax/evaluation/run.py.
"""
import os

from absl import app, flags

from samplernn_jax import cli
from samplernn_jax.errors import EvalError
from samplernn_jax.evaluation import classifier as clf_lib
from samplernn_jax.evaluation import run

cli.share_the_gpu()  # beside a training run on the same GPU (before JAX starts)

_D = run.EvalConfig()
_C = _D.classifier

_DATA_DIR = flags.DEFINE_string(
    "data_dir", None,
    "real data as train.py takes it: audio_train.npz, audio_test.npz "
    "(audio_valid.npz and classes.json optional), or a folder of class "
    "sub-folders (packed once into DATA_DIR/.packed), or synthetic (train.py's "
    "synthetic classes, drawn afresh)", required=True)
_SAMPLES = flags.DEFINE_string(
    "samples", None, "generated clips: *.wav (16 kHz mono) plus manifest.json",
    required=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "holds the f_real checkpoint, reused when data and settings "
    "match (default: <samples>/eval)")
_OUT_DIR = flags.DEFINE_string(
    "out_dir", None, "eval.json, report.html, figures/, clips/ and the f_gen "
    "checkpoint (default: <samples>/eval, whatever --workdir is)")
_OVERWRITE = flags.DEFINE_bool("overwrite", False,
                               "replace existing outputs and mismatched checkpoints")
_BASELINE = flags.DEFINE_enum(
    "baseline", None, ["random"],
    "'random': --samples holds an untrained model's clips (the paper's 6.7% row)")
_BASELINE_CONFIG = flags.DEFINE_string(
    "baseline_config",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.py"),
    "--baseline random with an empty --samples: the model config whose untrained "
    "clips are generated into it")
_BASELINE_PER_CLASS = flags.DEFINE_integer(
    "baseline_per_class", 20, "--baseline random: clips per class to generate")
_BASELINE_PAPER_DRAW = flags.DEFINE_bool(
    "baseline_paper_draw", False,
    "--baseline random: draw the untrained model's clips as the paper drew every clip "
    "(level minmax, temperature 1.0) instead of as sample.py draws (class level, 0.95); "
    "the paper's row: with --baseline_config configs/dcase2016.py")
_EPOCHS = flags.DEFINE_integer("epochs", _C.epochs, "classifier training epochs")
_WINDOW_SECONDS = flags.DEFINE_float("window_seconds", _D.window_seconds,
                                     "seconds of audio the classifier sees")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", _C.batch_size, "classifier batch size")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", _C.learning_rate,
                                    "classifier learning rate")
_CHANNELS = flags.DEFINE_string("channels", ",".join(map(str, _C.channels)),
                                "conv channels per block, comma-separated")
_EMBED_DIM = flags.DEFINE_integer("embed_dim", _C.embed_dim, "classifier embedding size")
_N_CLASSES = flags.DEFINE_integer(
    "n_classes", None, "default: the length of classes.json, else 1 + largest label")
_SEEDS = flags.DEFINE_string(
    "seeds", ",".join(map(str, _D.seeds)),
    "classifier seeds, comma-separated: each classifier is trained once per seed "
    "and every figure reported as mean (min, max)")


def eval_config() -> run.EvalConfig:
  """The EvalConfig the flags describe."""
  channels, seeds = cli.numbers(_CHANNELS), cli.numbers(_SEEDS)
  return run.EvalConfig(
      window_seconds=_WINDOW_SECONDS.value, seeds=seeds,
      classifier=clf_lib.ClassifierConfig(
          channels=channels, embed_dim=_EMBED_DIM.value, epochs=_EPOCHS.value,
          batch_size=_BATCH_SIZE.value, learning_rate=_LEARNING_RATE.value))


# The library's names of the settings its errors name (EvalError.setting:
# run.EvalConfig.validate, the start's and the samples folder's checks) ->
# this script's flags.
FLAG_OF = {"samples_dir": "--samples", "window_seconds": "--window_seconds",
           "seeds": "--seeds", "classifier.epochs": "--epochs",
           "classifier.batch_size": "--batch_size", "classifier.embed_dim": "--embed_dim",
           "classifier.channels": "--channels",
           "classifier.learning_rate": "--learning_rate", "baseline": "--baseline",
           "baseline_config": "--baseline_config"}


def flag_named(e: EvalError) -> str:
  """The message of ``e`` with the flag that sets its setting in place of
  the library's name ("classifier.epochs 0: ..." -> "--epochs 0: ..."); a
  message about a file or folder (no setting) as it is."""
  message = str(e)
  if e.setting in FLAG_OF and message.startswith(e.setting + " "):
    return FLAG_OF[e.setting] + message[len(e.setting):]
  return message


def _run():
  try:
    _evaluate()
  except EvalError as e:
    raise EvalError(flag_named(e), e.setting) from e


def _evaluate():
  run.evaluate(_DATA_DIR.value, _SAMPLES.value, workdir=_WORKDIR.value,
               out_dir=_OUT_DIR.value, overwrite=_OVERWRITE.value,
               baseline=_BASELINE.value, config=eval_config(),
               n_classes=_N_CLASSES.value, baseline_config=_BASELINE_CONFIG.value,
               baseline_per_class=_BASELINE_PER_CLASS.value,
               baseline_paper_draw=_BASELINE_PAPER_DRAW.value, log=print)


def main(argv=None):
  """evaluate.py in this process: ``main(["--data_dir", D, ...])`` (flags only;
  every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
