"""Generates scenes from a trained run: 20 clips per class, 5 s each, by default.

  python sample.py --workdir runs/tiny
  python sample.py --workdir runs/paper --classes bus,park --per_class 4 --seconds 10
  python sample.py --workdir runs/paper --mix bus:0.5,park:0.5
  python sample.py --demo          # the pretrained demo model in demo/, no training
"""
import argparse
import os
import sys

DEMO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo")


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--workdir", help="the run folder written by train.py")
  p.add_argument("--demo", action="store_true",
                 help="sample the pretrained demo model shipped in demo/ "
                      "(output: demo_samples/ unless --out)")
  p.add_argument("--ckpt", default="best", help="best | latest | a step number")
  p.add_argument("--out", help="output folder (default: WORKDIR/samples/STEP)")
  p.add_argument("--classes", help="comma-separated class names or indices (default: all)")
  p.add_argument("--per_class", type=int, default=20, help="clips per class")
  p.add_argument("--seconds", type=float, default=5.0, help="length of each clip")
  p.add_argument("--temperature", type=float, default=None,
                 help="softmax temperature of each draw: 0.95 by default (the best "
                      "measured, docs/quality.md); 1.0 = the paper's plain draw; "
                      "0 = argmax")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--prime", help="a mono WAV at the model's rate to continue")
  p.add_argument("--mix", help="a convex mix of classes, e.g. bus:0.5,park:0.5")
  p.add_argument("--level", "--normalize", dest="level", default=None,
                 choices=("class", "minmax", "peak", "none"),
                 help="output level. class (default): each clip at the median RMS of "
                      "its class's training recordings (the model itself never sees "
                      "loudness); minmax: each clip rescaled to +-0.475, the paper's; "
                      "peak: max |x| = 0.475; none: the dequantised levels "
                      "(--stream writes 'none')")
  p.add_argument("--stream", action="store_true",
                 help="append ~1 s blocks to the WAVs as they are generated")
  p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
  p.add_argument("--no_progress", action="store_true")
  return p.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  from samplernn_jax import cli, sample_files as sfiles

  def run():
    if args.demo and args.workdir:
      raise ValueError("--demo samples the bundled demo model; it takes no --workdir")
    if args.demo:
      args.workdir = DEMO_DIR
      args.out = args.out or "demo_samples"
    if not args.workdir:
      raise ValueError("--workdir is required (the folder of a train.py run), or --demo")
    if args.mix and args.classes:
      raise ValueError("--mix and --classes exclude each other")
    loaded = sfiles.load_checkpoint(args.workdir, args.ckpt)
    req = sfiles.make_request(loaded.class_names, args.classes, args.per_class, args.mix)
    out = args.out or os.path.join(args.workdir, "samples", str(loaded.step))
    c = loaded.config
    prime = (sfiles.read_prime(args.prime, c.sample_rate, c.q_type, c.q_levels)
             if args.prime else None)
    temperature = (sfiles.DEFAULT_TEMPERATURE if args.temperature is None
                   else args.temperature)
    common = dict(temperature=temperature, seed=args.seed, prime=prime,
                  overwrite=args.overwrite, progress=not args.no_progress)
    if args.stream:
      if args.level not in (None, "none"):
        raise ValueError(f"--stream writes unscaled audio (--level none): "
                         f"--level {args.level} needs the whole clip")
      paths = sfiles.stream_samples(loaded, out, req, args.seconds, **common)
    else:
      paths = sfiles.write_samples(loaded, out, req, args.seconds,
                                   level=args.level or sfiles.DEFAULT_LEVEL, **common)
    print(f"wrote {len(paths)} clips to {out}")

  try:
    cli.run(run)
  except KeyboardInterrupt as e:  # Ctrl-C, or signals.Stopped (SIGINT / SIGTERM)
    print("interrupted; streamed files hold every block finished so far",
          file=sys.stderr)
    raise SystemExit(getattr(e, "exit_code", 130))


if __name__ == "__main__":
  main()
