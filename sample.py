"""Generates scenes from a trained run: 20 clips per class, 5 s each, by default.

  python sample.py --workdir runs/tiny
  python sample.py --workdir runs/paper --classes bus,park --per_class 4 --seconds 10
  python sample.py --workdir runs/paper --mix bus:0.5,park:0.5
  python sample.py --demo          # the pretrained demo model in demo/, no training
"""
import os
import sys

from absl import app, flags

from samplernn_jax import cli

cli.share_the_gpu()  # beside a training run on the same GPU (before JAX starts)

DEMO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo")

_WORKDIR = flags.DEFINE_string("workdir", None, "the run folder written by train.py")
_DEMO = flags.DEFINE_bool("demo", False,
                          "sample the pretrained demo model shipped in demo/ "
                          "(output: demo_samples/ unless --out)")
_CKPT = flags.DEFINE_string("ckpt", "best", "best | latest | a step number")
_MODEL_CLS = flags.DEFINE_string("model_cls", None, cli.MODEL_CLS_HELP)
_OUT = flags.DEFINE_string("out", None, "output folder (default: WORKDIR/samples/STEP)")
_CLASSES = flags.DEFINE_string("classes", None,
                               "comma-separated class names or indices (default: all)")
_PER_CLASS = flags.DEFINE_integer("per_class", 20, "clips per class")
_SECONDS = flags.DEFINE_float("seconds", 5.0, "seconds generated per clip (after the "
                               "--prime recording, which the clip begins with)")
_TEMPERATURE = flags.DEFINE_float(
    "temperature", None,
    "softmax temperature of each draw: 0.95 by default (the best measured, "
    "docs/quality.md); 1.0 = the paper's plain draw; 0 = argmax")
_GUIDANCE = flags.DEFINE_float(
    "guidance", 1.0,
    "classifier-free guidance g: each draw from l_u + g (l_c - l_u) of the "
    "model's logits with and without the class (twice the work); 1 = the "
    "plain conditional draw (the paper's, the default). Other values need a "
    "model trained with config.cond_dropout > 0; try 2-3 against 1 "
    "(docs/quality.md: it helped one such model and hurt another)")
_SEED = flags.DEFINE_integer("seed", 0, "seed of the draws")
_PRIME = flags.DEFINE_string(
    "prime", None, "a mono WAV at the model's rate to continue: each clip begins with it "
    "(the manifest's prime_seconds; evaluate.py scores what follows)")
_MIX = flags.DEFINE_string("mix", None, "a convex mix of classes, e.g. bus:0.5,park:0.5 "
                           "(weights renormalised to sum to 1)")
_LEVEL = flags.DEFINE_enum(
    "level", None, ["class", "minmax", "peak", "none", "prime"],
    "output level. class (default): each clip at the median RMS of its class's "
    "training recordings, turned down where that would clip its peak (the "
    "model itself never sees loudness); minmax: each "
    "clip rescaled to +-0.475, the paper's; peak: max |x| = 0.475; none: the "
    "dequantised levels (--stream's default); prime (default with --prime, streamed or not): "
    "the prime recording's own scale, so it comes back as recorded and the "
    "continuation follows at that scale; --normalize is its older name")
flags.DEFINE_alias("normalize", "level")
_STREAM = flags.DEFINE_bool("stream", False,
                            "append ~1 s blocks to the WAVs as they are generated")
_OVERWRITE = flags.DEFINE_bool("overwrite", False,
                               "replace existing outputs (clips the earlier manifest "
                               "lists and this run does not make are removed)")
_NO_PROGRESS = flags.DEFINE_bool("no_progress", False, "no progress bar")


def _workdir_and_out() -> tuple[str, str | None]:
  """--workdir and --out, or the demo model's folder and demo_samples/."""
  if _DEMO.value and _WORKDIR.value:
    raise ValueError("--demo samples the bundled demo model; it takes no --workdir")
  if _DEMO.value:
    return DEMO_DIR, _OUT.value or "demo_samples"
  if not _WORKDIR.value:
    raise ValueError("--workdir is required (the folder of a train.py run), or --demo")
  return _WORKDIR.value, _OUT.value


def _sample():
  from samplernn_jax import sample_files as sfiles
  workdir, out = _workdir_and_out()
  if _MIX.value and _CLASSES.value:
    raise ValueError("--mix and --classes exclude each other")
  loaded = sfiles.load_checkpoint(workdir, _CKPT.value,
                                  cli.model_class(_MODEL_CLS.value, sfiles.SampleRNN))
  req = sfiles.make_request(loaded.class_names, _CLASSES.value, _PER_CLASS.value, _MIX.value)
  out = out or os.path.join(workdir, "samples", str(loaded.step))
  c = loaded.config
  prime, span = (sfiles.load_prime(_PRIME.value, c.sample_rate, c.q_type, c.q_levels)
                 if _PRIME.value else (None, None))
  temperature = (sfiles.DEFAULT_TEMPERATURE if _TEMPERATURE.value is None
                 else _TEMPERATURE.value)
  common = dict(temperature=temperature, guidance=_GUIDANCE.value, seed=_SEED.value, prime=prime,
                overwrite=_OVERWRITE.value, progress=not _NO_PROGRESS.value)
  level = _LEVEL.value
  if _STREAM.value:
    if level not in (None,) + sfiles.STREAM_LEVELS:
      raise ValueError(f"--stream writes unscaled audio (--level none, or prime with "
                       f"--prime): --level {level} needs the whole clip")
    paths = sfiles.stream_samples(loaded, out, req, _SECONDS.value, level=level,
                                  prime_span=span, **common)
  else:  # level None: 'prime' with a --prime (its span), else the default
    paths = sfiles.write_samples(loaded, out, req, _SECONDS.value, level=level,
                                 prime_span=span, stop_on_signal=True, **common)
  print(f"wrote {len(paths)} clip{'s' if len(paths) != 1 else ''} to {out}")


def _run():
  try:
    _sample()
  except KeyboardInterrupt as e:  # Ctrl-C, or signals.Stopped (SIGINT / SIGTERM)
    print("interrupted; " + ("streamed files hold every block finished so far"
                             if _STREAM.value else "without --stream no clip is written "
                             "until every clip is generated"), file=sys.stderr)
    raise SystemExit(getattr(e, "exit_code", 130))


def main(argv=None):
  """sample.py in this process: ``main(["--workdir", W, ...])`` (flags only;
  every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
