"""Evaluates generated scenes as the paper does (issue #8).

  python evaluate.py --data_dir D --samples DIR [--workdir W] [--overwrite] \\
      [--baseline random] [--epochs N] [--window_seconds S]

Trains (or reuses) f_real on D's real training split, scores it on the real
test split and on DIR's clips, trains f_gen on DIR's clips and scores it on
the real test split, and measures Frechet distances between the classifier's
embeddings of real and generated clips. Writes eval.json, confusion matrices
and report.html to ``<DIR>/eval/`` (or --out_dir, else --workdir).
The steps and file formats: samplernn_jax/evaluation/run.py.
"""
import argparse
import os
import sys

from samplernn_jax.evaluation import run


def parse_flags(argv=None) -> argparse.Namespace:
  d = run.EvalConfig()
  c = d.classifier
  p = argparse.ArgumentParser(
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data_dir", required=True,
                 help="real data as train.py takes it: audio_train.npz, audio_test.npz "
                      "(audio_valid.npz and classes.json optional), or a folder of "
                      "class sub-folders (packed once into DATA_DIR/.packed)")
  p.add_argument("--samples", required=True,
                 help="generated clips: *.wav (16 kHz mono) plus manifest.json")
  p.add_argument("--workdir", default=None,
                 help="holds the f_real checkpoint, reused when data and "
                      "settings match (default: <samples>/eval)")
  p.add_argument("--out_dir", default=None,
                 help="eval.json, report.html, figures/, clips/ and the f_gen "
                      "checkpoint (default: the workdir)")
  p.add_argument("--overwrite", action="store_true",
                 help="replace existing outputs and mismatched checkpoints")
  p.add_argument("--baseline", choices=["random"], default=None,
                 help="'random': --samples holds an untrained model's clips "
                      "(the paper's 6.7%% row)")
  p.add_argument("--baseline_config", default=os.path.join(
      os.path.dirname(os.path.abspath(__file__)), "configs", "default.py"),
                 help="--baseline random with an empty --samples: the model config "
                      "whose untrained clips are generated into it")
  p.add_argument("--baseline_per_class", type=int, default=20,
                 help="--baseline random: clips per class to generate")
  p.add_argument("--epochs", type=int, default=c.epochs)
  p.add_argument("--window_seconds", type=float, default=d.window_seconds,
                 help="seconds of audio the classifier sees")
  p.add_argument("--batch_size", type=int, default=c.batch_size)
  p.add_argument("--learning_rate", type=float, default=c.learning_rate)
  p.add_argument("--channels", default=",".join(map(str, c.channels)),
                 help="conv channels per block, comma-separated")
  p.add_argument("--embed_dim", type=int, default=c.embed_dim)
  p.add_argument("--n_classes", type=int, default=None,
                 help="default: the length of classes.json, else 1 + largest label")
  p.add_argument("--seeds", default=",".join(map(str, d.seeds)),
                 help="classifier seeds, comma-separated: each classifier is trained "
                      "once per seed and every figure reported as mean (min, max)")
  return p.parse_args(argv)


if __name__ == "__main__":
  sys.exit(run.main(parse_flags()))
