"""Tests of the built-in evaluation (samplernn_jax/evaluation, evaluate.py).

Synthetic data throughout: 3 classes of clearly different sound (a 300 Hz
tone, a 2 kHz tone, noise band-passed around 5 kHz, each with a little white
noise), clips of 0.5 s at 16 kHz, windows of 0.25 s and a 2-block CNN, so the
whole file runs in well under a minute on 2 CPU cores.
"""
import dataclasses
import json
import os
import shutil
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from conftest import load_config_file, run_scripts, subprocess_env
from samplernn_jax import data as data_lib
from samplernn_jax import files, sample_files

from samplernn_jax.evaluation import classifier as clf_lib
from samplernn_jax.evaluation import features as feat_lib
from samplernn_jax.evaluation import frechet as frechet_lib
from samplernn_jax.evaluation import report as report_lib
from samplernn_jax.evaluation import run as run_lib
from samplernn_jax.evaluation import samples as samples_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = 16000
CLASSES = ["low_tone", "high_tone", "hiss"]
CLIP = 8000  # samples of a real clip (0.5 s)
WINDOW_S = 0.25
TINY = ["--window_seconds", str(WINDOW_S), "--epochs", "6", "--channels", "8,16",
        "--embed_dim", "16", "--batch_size", "16"]


def synth(cls: int, n: int, length: int, rng) -> np.ndarray:
  """n clips float32 [n, length] of class cls (0, 1: tones; 2: band noise)."""
  t = np.arange(length) / SR
  out = np.empty((n, length), np.float32)
  sos = scipy.signal.butter(4, [4000, 6000], "bandpass", fs=SR, output="sos")
  for i in range(n):
    if cls == 0 or cls == 1:
      f = (300.0, 2000.0)[cls] * (1 + 0.02 * rng.standard_normal())
      x = 0.3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    else:
      x = 2.0 * scipy.signal.sosfilt(sos, rng.standard_normal(length))
    out[i] = x + 0.02 * rng.standard_normal(length)
  return out


def synth_set(n_per_class, length, seed):
  rng = np.random.default_rng(seed)
  wav = np.concatenate([synth(c, n_per_class, length, rng) for c in range(3)])
  return wav, np.repeat(np.arange(3), n_per_class).astype(np.uint8)


def write_data_dir(d, n_train=12, n_test=6, valid=True):
  os.makedirs(d, exist_ok=True)
  for split, n, seed in (("train", n_train, 1), ("valid", 4, 2), ("test", n_test, 3)):
    if split == "valid" and not valid:
      continue
    wav, sid = synth_set(n, CLIP, seed)
    np.savez(os.path.join(d, f"audio_{split}.npz"), wav=wav.astype(np.float16),
             sid=sid)
  with open(os.path.join(d, "classes.json"), "w") as f:
    json.dump(CLASSES, f)
  return d


def write_samples_dir(d, n_per_class=6, seed=4, length=4000, manifest=True,
                      classes=None, sample_rate=SR, mixes=1, sounds=None):
  """A sample.py-style directory: WAVs and manifest.json (a mix included).

  ``sounds`` maps a class to the class whose sound its clips get (default:
  its own), for clips labelled with the wrong scene.
  """
  os.makedirs(d, exist_ok=True)
  classes = classes or list(range(3))
  sounds = sounds or {}
  rng = np.random.default_rng(seed)
  entries = []
  for c in classes:
    for i, x in enumerate(synth(sounds.get(c, c), n_per_class, length, rng)):
      name = f"{CLASSES[c]}_{i:03d}.wav"
      sf.write(os.path.join(d, name), x, sample_rate, subtype="FLOAT")
      entries.append({"file": name, "class": CLASSES[c], "class_index": c,
                      "seed": i, "temperature": 1.0, "step": 100,
                      "seconds": length / SR})
  for i in range(mixes):
    x = synth(0, 1, length, rng)[0] + synth(2, 1, length, rng)[0]
    sf.write(os.path.join(d, f"mix_{i:03d}.wav"), x, sample_rate, subtype="FLOAT")
    entries.append({"file": f"mix_{i:03d}.wav", "class": None, "class_index": None,
                    "seed": i, "temperature": 1.0, "step": 100,
                    "seconds": length / SR})
  if manifest:
    with open(os.path.join(d, "manifest.json"), "w") as f:
      json.dump(entries, f)
  return d


def run_evaluate(*args, timeout=240):
  return subprocess.run([sys.executable, os.path.join(REPO, "evaluate.py"), *args],
                        cwd=REPO, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------
# Features


def reference_log_mel(x, cfg):
  """scipy.signal.stft power spectrum and an np.interp-built mel filterbank."""
  win = scipy.signal.get_window("hann", cfg.n_fft)  # periodic Hann
  _, _, z = scipy.signal.stft(x.astype(np.float64), fs=cfg.sample_rate,
                              window=win, nperseg=cfg.n_fft,
                              noverlap=cfg.n_fft - cfg.hop, boundary="zeros",
                              padded=False)  # [K, F], scaled by 1 / sum(win)
  power = np.abs(z * win.sum()) ** 2
  mel = lambda f: 1127.0 * np.log1p(np.asarray(f) / 700.0)
  inv = lambda m: 700.0 * np.expm1(np.asarray(m) / 1127.0)
  pts = inv(np.linspace(mel(cfg.fmin), mel(cfg.fmax), cfg.n_mels + 2))
  freqs = np.fft.rfftfreq(cfg.n_fft, 1.0 / cfg.sample_rate)
  fb = np.stack([np.interp(freqs, pts[m:m + 3], [0.0, 1.0, 0.0], left=0, right=0)
                 for m in range(cfg.n_mels)])  # [M, K]
  return np.log(fb @ power + cfg.log_floor).T  # [F, M]


def test_log_mel_matches_scipy_reference():
  """log_mel of 20 000 samples (tones at 440 and 3100 Hz plus noise; not a multiple of the
  hop) equals a scipy.signal.stft power spectrum through an np.interp-built HTK mel
  filterbank: 40 frames x 64 bands, within 1e-3 in log power (float32 FFT against float64),
  and the 440 Hz tone peaks in the band centred nearest it. Rules out frames not centred (no
  n_fft / 2 padding: 38 frames), amplitude for power, and log10 for the natural log."""
  cfg = feat_lib.FeatureConfig()
  rng = np.random.default_rng(0)
  t = np.arange(20000) / SR  # not a multiple of the hop
  x = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3100 * t)
       + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
  got = np.asarray(feat_lib.log_mel(x[None], cfg))[0]
  want = reference_log_mel(x, cfg)
  assert got.shape == want.shape == (1 + 20000 // 512, 64)
  # float32 FFT against float64: 1e-3 in log power is a 0.1 % power error.
  np.testing.assert_allclose(got, want, atol=1e-3, rtol=0)
  # The 440 Hz tone dominates the band whose filter peaks nearest 440 Hz.
  centres = feat_lib.mel_to_hz(np.linspace(feat_lib.hz_to_mel(cfg.fmin),
                                           feat_lib.hz_to_mel(cfg.fmax), 66))[1:-1]
  mid = got[5:-5].mean(axis=0)
  low = np.nonzero(centres < 1000)[0]
  assert low[np.argmax(mid[low])] == np.argmin(np.abs(centres - 440))


def test_feature_settings_are_the_documented_ones_and_the_mel_range_is_checked():
  """FeatureConfig's defaults are the features features.py's docstring
  defines (16 kHz, n_fft 1024, hop 512, 64 bands from 50 Hz to 8 kHz, log
  floor 1e-6): every accuracy and distance in docs/quality.md was measured
  with them, and the scipy reference above takes its settings from the
  same object, so it cannot see them change. The mel range may start at
  0 Hz and end at Nyquist; past Nyquist, below 0 or empty it is refused.
  Rules out a default changed without the figures (e.g. fmin 100 Hz or
  floor 2e-6 passed every other test) and a bound one step off."""
  cfg = feat_lib.FeatureConfig()
  assert (cfg.sample_rate, cfg.n_fft, cfg.hop, cfg.n_mels, cfg.fmin, cfg.fmax,
          cfg.log_floor) == (16000, 1024, 512, 64, 50.0, 8000.0, 1e-6)
  fb = feat_lib.mel_filterbank(feat_lib.FeatureConfig(fmin=0.0))
  assert fb.shape == (513, 64) and fb[0, 0] == 0.0 and fb[1, 0] > 0.0
  for bad in (dict(fmax=8000.5), dict(fmin=-1.0), dict(fmin=8000.0), dict(fmin=900.0, fmax=800.0)):
    with pytest.raises(ValueError, match="does not fit in 0..8000.0 Hz"):
      feat_lib.mel_filterbank(feat_lib.FeatureConfig(**bad))


def test_windows_cover_and_pad(monkeypatch):
  """An 8 s clip in 5 s 'cover' windows gets windows at 0 and 3 s, 'first' one; a short clip is
  zero-padded at its end; 100 samples in windows of 40 end the last window on the last
  sample. features_of_clips in batches of 3 that straddle clips gives each window its clip's
  label and the features log_mel gives that clip alone (atol 1e-5), every call of log_mel
  on exactly 3 windows (one compiled shape). Rules out windows stepped by their own length,
  padding at the start, windows carried from one batch to the next lost or shifted, the
  last batch's padding rows returned as windows, and a last batch left short or padded
  past the batch size (a second compile of log_mel in every evaluation)."""
  assert list(feat_lib.window_starts(128000, 80000, "cover")) == [0, 48000]
  assert list(feat_lib.window_starts(128000, 80000, "first")) == [0]
  assert list(feat_lib.window_starts(80000, 80000, "cover")) == [0]
  x = np.arange(1, 101, dtype=np.float32)
  w = feat_lib.clip_windows(x, 150, "cover")
  assert w.shape == (1, 150) and w[0, 99] == 100 and not w[0, 100:].any()
  w = feat_lib.clip_windows(x, 40, "cover")
  assert w.shape == (3, 40) and w[0, 0] == 1 and w[-1, -1] == 100
  # Batched feature extraction equals one call per window (batch padding is inert).
  clips = [(np.random.default_rng(i).standard_normal(n).astype(np.float32), i)
           for i, n in enumerate([3000, 9000, 4000])]
  calls, real_log_mel = [], feat_lib.log_mel
  monkeypatch.setattr(feat_lib, "log_mel",
                      lambda x, cfg: calls.append(x.shape) or real_log_mel(x, cfg))
  f, lab, owner = feat_lib.features_of_clips(clips, 4000, "cover", batch=3)
  monkeypatch.undo()
  assert calls == [(3, 4000), (3, 4000)]  # 5 windows: a full batch, then 2 padded to 3
  assert list(lab) == [0, 1, 1, 1, 2] and list(owner) == [0, 1, 1, 1, 2]
  assert len(f) == 5  # one row a window: the last batch's padding rows dropped
  for rows, (x, _) in ((slice(0, 1), clips[0]), (slice(1, 4), clips[1]), (slice(4, 5), clips[2])):
    one = np.asarray(feat_lib.log_mel(feat_lib.clip_windows(x, 4000, "cover")))
    np.testing.assert_allclose(f[rows], one, atol=1e-5)


def test_split_clips_reads_blocks_in_order_and_names_a_nonfinite_row():
  """split_clips of 5 float16 rows read 2 at a time yields every row, in
  order, as float32 with its own class; a row of NaN or Inf is refused by
  its index in the split (row 3, in the second block). Rules out rows of a
  later block paired with the first block's classes or skipped, a block's
  start counted twice, and a bad row named by its index in its block."""
  rng = np.random.default_rng(0)
  # rows of 3 samples, fewer than the rows: a loop over the samples' count skips row 4
  wav, sid = rng.standard_normal((5, 3)).astype(np.float16), np.array([4, 0, 3, 1, 2])
  got = list(feat_lib.split_clips(wav, sid, rows_per_read=2))
  assert [c for _, c in got] == [4, 0, 3, 1, 2]
  for (x, _), row in zip(got, wav):
    assert x.dtype == np.float32 and np.array_equal(x, row.astype(np.float32))
  wav[3, 2] = np.inf
  with pytest.raises(ValueError, match="^row 3 holds NaN or Inf"):
    list(feat_lib.split_clips(wav, sid, rows_per_read=2))


# ---------------------------------------------------------------------------
# Frechet distance


def test_frechet_matches_closed_form_and_scipy():
  """frechet_distance equals the closed form for diagonal Gaussians (within 1e-9) and the
  scipy.linalg.sqrtm formula for full covariances (relative 1e-6); with 4 embeddings of 16
  dimensions (singular covariances) a set against itself gives below 1e-8 and a shifted set a
  finite value. Rules out the distance's square root (FID reports the square),
  Tr(S_a^1/2 S_b^1/2) for Tr((S_a S_b)^1/2) (equal only where they commute, as diagonal
  ones do), and a matrix root that turns NaN on singular covariances."""
  import scipy.linalg
  rng = np.random.default_rng(0)
  # Diagonal Gaussians: d^2 = |mu_a - mu_b|^2 + sum (sqrt(a) - sqrt(b))^2.
  a, b = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
  mu_a, mu_b = rng.standard_normal(5), rng.standard_normal(5)
  want = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
  got = frechet_lib.frechet_distance(mu_a, np.diag(a), mu_b, np.diag(b))
  assert abs(got - want) < 1e-9
  # Full covariances: the usual scipy.linalg.sqrtm formula.
  m, n = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
  ca, cb = m @ m.T + 0.1 * np.eye(6), n @ n.T + 0.1 * np.eye(6)
  want = (np.sum((mu_a[:1] - mu_b[:1]) ** 2)
          + np.trace(ca + cb - 2 * np.real(scipy.linalg.sqrtm(ca @ cb))))
  got = frechet_lib.frechet_distance(np.full(6, mu_a[0]), ca,
                                     np.full(6, mu_b[0]), cb)
  want += 5 * (mu_a[0] - mu_b[0]) ** 2
  assert abs(got - want) < 1e-6 * max(1.0, want)
  # Fewer samples than dimensions (singular covariances) stay finite and >= 0.
  e = rng.standard_normal((4, 16))
  assert frechet_lib.frechet_of_sets(e, e) < 1e-8
  assert np.isfinite(frechet_lib.frechet_of_sets(e, e + 1.0))


def test_gaussian_stats_are_the_mean_and_the_unbiased_covariance():
  """gaussian_stats gives the mean and the covariance with 1 / (N - 1) (the
  convention of FID and of the Frechet Audio Distance), both written out
  here, on 5 embeddings and on 2 (the fewest it takes); rules out the
  biased 1 / N covariance (20% smaller on 5 embeddings, which moves every
  reported distance), and refuses a single embedding but not two (a class
  with two generated clips still gets its distance)."""
  e = np.random.default_rng(1).standard_normal((5, 3))
  for n in (5, 2):
    mu, cov = frechet_lib.gaussian_stats(e[:n])
    d = e[:n] - e[:n].sum(axis=0) / n
    np.testing.assert_allclose(mu, e[:n].sum(axis=0) / n, rtol=1e-12)
    np.testing.assert_allclose(cov, d.T @ d / (n - 1), rtol=1e-12)
  with pytest.raises(ValueError, match="at least 2 embeddings"):
    frechet_lib.gaussian_stats(e[:1])


# ---------------------------------------------------------------------------
# Classifier


def test_classifier_keeps_the_best_valid_epoch_the_later_on_ties(monkeypatch):
  """With a valid set, ``train`` returns the parameters of the epoch with the
  highest valid accuracy, the later of tied epochs (f_real's model
  selection). The valid accuracies are scripted (0.5, 0.9, 0.7, 0.9, 0.6,
  0.3) and each epoch's parameters recorded as they are scored: the result
  must be epoch 4's, and the valid accuracy it reports (eval.json's
  f_real_on_valid) 0.9. Rules out no selection (epoch 6's), the first of
  tied epochs (epoch 2's), the history not holding the accuracies used, and
  reporting the last epoch's accuracy (0.3)."""
  import jax
  script = iter([0.5, 0.9, 0.7, 0.9, 0.6, 0.3])
  seen = []
  real_predict = clf_lib._predict

  def recording_predict(model, params, *args):
    # copies: the next step may donate (and overwrite) these buffers
    seen.append([np.array(x, copy=True) for x in jax.tree.leaves(params)])
    return real_predict(model, params, *args)

  monkeypatch.setattr(clf_lib, "_predict", recording_predict)
  monkeypatch.setattr(clf_lib, "accuracy", lambda logits, labels: next(script))
  wav, sid = synth_set(4, CLIP, 21)
  x, y = feat_lib.features_of_clips(zip(wav, sid), int(WINDOW_S * SR), "first")[:2]
  cfg = clf_lib.ClassifierConfig(channels=(8, 16), embed_dim=16, epochs=6, batch_size=16)
  clf = clf_lib.train(x, y, 3, cfg, valid=(x, y), log=lambda s: None)
  assert [h["valid_acc"] for h in clf.history] == [0.5, 0.9, 0.7, 0.9, 0.6, 0.3]
  assert len(seen) == 6 and not all(
      np.array_equal(a, b) for a, b in zip(seen[1], seen[3]))  # epochs differ
  for got, want in zip(jax_leaves(clf.params), seen[3]):
    np.testing.assert_array_equal(got, want)
  assert clf.valid_accuracy == 0.9


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  cfg = clf_lib.ClassifierConfig(channels=(8, 16), embed_dim=16, epochs=6,
                                 batch_size=16)
  window = int(WINDOW_S * SR)
  def feats(n, seed, mode):
    wav, sid = synth_set(n, CLIP, seed)
    return feat_lib.features_of_clips(zip(wav, sid), window, mode)[:2]
  x_tr, y_tr = feats(12, 10, "cover")
  x_va, y_va = feats(4, 11, "first")
  x_te, y_te = feats(16, 12, "first")
  clf = clf_lib.train(x_tr, y_tr, 3, cfg, valid=(x_va, y_va), log=lambda s: None)
  return clf, cfg, x_te, y_te, tmp_path_factory.mktemp("ckpt")


def test_classifier_separates_synthetic_classes(trained):
  """The fixture's classifier (6 epochs on the three synthetic classes) scores above 0.9 on 48
  held-out windows (chance 1/3), gives logits [48, 3] and embeddings [48, 16] and records a
  valid accuracy per epoch; on its embeddings a set against itself is below 1e-6 and two
  halves of one class are over 10 times closer than any two classes. Rules out a classifier
  that does not learn, predict's two outputs swapped, and a Frechet distance that is not ~0
  for identical sets."""
  clf, _, x_te, y_te, _ = trained
  logits, emb = clf.predict(x_te)
  assert logits.shape == (48, 3) and emb.shape == (48, 16)
  assert clf_lib.accuracy(logits, y_te) > 0.9
  assert len(clf.history) == 6 and "valid_acc" in clf.history[0]
  # Frechet distance of embeddings: a set against itself is ~0; two disjoint
  # sets of 8 clips of one class are close; against another class, far.
  d = np.array([[frechet_lib.frechet_of_sets(emb[y_te == a][:8], emb[y_te == b][8:])
                 for b in range(3)] for a in range(3)])
  for c in range(3):
    assert frechet_lib.frechet_of_sets(emb[y_te == c], emb[y_te == c]) < 1e-6
  same, other = np.diag(d).max(), d[~np.eye(3, dtype=bool)].min()
  assert other > 10 * same and other > 0.5, d


def test_checkpoint_round_trip(trained):
  """save then restore of the fixture's classifier gives bit-identical logits, the same input
  mean and the same per-epoch history; read_meta gives None before anything is saved and the
  saved meta after; predict's logits are the network's on standardised input. Rules out a
  restore that reinitialises the parameters or loses the input standardisation (the logits
  are compared exactly), the history dropped from the meta, and predict skipping the
  standardisation training applied (both classifiers alike, so the round trip cannot tell)."""
  clf, cfg, x_te, _, d = trained
  ckpt = os.path.join(d, "f_real")
  assert clf_lib.read_meta(ckpt) is None
  clf_lib.save(ckpt, clf, {"kind": "test"})
  assert clf_lib.read_meta(ckpt)["kind"] == "test"
  back = clf_lib.restore(ckpt, 3, cfg, x_te.shape[1], x_te.shape[2])
  np.testing.assert_array_equal(back.predict(x_te)[0], clf.predict(x_te)[0])
  np.testing.assert_array_equal(back.mean, clf.mean)
  assert back.history == clf.history
  # predict standardises its input as training did (the network on raw log-mels differs).
  # Tolerance: one batch against predict's padded batches of 64, float32 (1e-5).
  net = lambda x: np.asarray(clf.model.apply({"params": clf.params}, x)[0])
  logits = clf.predict(x_te)[0]
  np.testing.assert_allclose(logits, net((x_te - clf.mean) / clf.std), rtol=1e-5, atol=1e-5)
  assert np.abs(logits - net(x_te)).max() > 1e-2


# ---------------------------------------------------------------------------
# evaluate.py end to end


def referenced_files(html_text):
  return re.findall(r'(?:src)="([^"]+)"', html_text)


def test_evaluate_end_to_end_and_no_overwrite(tmp_path):
  """evaluate.py as a user runs it: <samples>/eval/eval.json with f_real above 0.7 on real and
  generated clips, finite Frechet figures per class, 18 clips (the mix skipped, with a note),
  and report.html linking 6 WAVs and 9 PNGs by relative paths that exist; a rerun exits 2
  naming eval.json and --overwrite, eval.json byte for byte kept; --overwrite reuses f_real
  (same figures). Rules out a mix scored as a class's clip, absolute paths in the report, and
  an earlier evaluation overwritten without the flag."""
  data = write_data_dir(str(tmp_path / "data"))
  samples = write_samples_dir(str(tmp_path / "samples"))
  r = run_evaluate("--data_dir", data, "--samples", samples, *TINY)
  assert r.returncode == 0, r.stderr
  out = tmp_path / "samples" / "eval"  # the documented default
  res = json.loads((out / "eval.json").read_text())
  for k in ("f_real_on_real_test", "f_real_on_generated", "f_gen_on_real_test"):
    assert 0.0 <= res[k] <= 1.0, k
  # The synthetic "generated" clips are as clean as the real ones (chance: 1/3).
  assert res["f_real_on_real_test"] > 0.7 and res["f_real_on_generated"] > 0.7
  assert res["frechet"] >= 0.0 and np.isfinite(res["frechet"])
  assert set(res["frechet_per_class"]) == set(CLASSES)
  assert all(v is not None and v >= 0 for v in res["frechet_per_class"].values())
  assert res["counts"]["generated_clips"] == 18  # the mix is skipped ...
  assert any("mixes" in n for n in res["notes"])  # ... with a note
  html_text = (out / "report.html").read_text()
  refs = referenced_files(html_text)
  assert sum(f.endswith(".wav") for f in refs) == 6  # real + generated per class
  assert sum(f.endswith(".png") for f in refs) == 3 + 6  # confusions + log-mels
  for f in refs:
    assert not os.path.isabs(f) and (out / f).is_file(), f
  assert sf.info(str(out / refs[-1])).samplerate == SR
  # A second run refuses to overwrite; eval.json is left as it was.
  before = (out / "eval.json").read_bytes()
  r = run_evaluate("--data_dir", data, "--samples", samples, *TINY)
  assert r.returncode == 2 and "pass --overwrite" in r.stderr and "eval.json" in r.stderr
  assert (out / "eval.json").read_bytes() == before
  # With --overwrite the outputs are replaced, and the matching f_real
  # checkpoint is reused (so the numbers are the same).
  (out / "eval.json").write_text("{}")
  r = run_evaluate("--data_dir", data, "--samples", samples, "--overwrite", *TINY)
  assert r.returncode == 0, r.stderr
  assert "f_real: reusing the checkpoint" in r.stdout
  again = json.loads((out / "eval.json").read_text())
  assert again["f_real_on_real_test"] == res["f_real_on_real_test"]
  assert again["frechet"] == pytest.approx(res["frechet"], rel=1e-6)


# ---------------------------------------------------------------------------
# Samples directories and bad inputs


def test_a_classifier_is_trained_once_by_evaluations_sharing_a_workdir(tmp_path):
  """Two evaluations with one workdir at once: the second waits on the
  first's ``f_real.lock``, then reuses the classifier the first saved
  instead of training its own. Rules out the workdir as it was, unlocked:
  both trained f_real and saved over each other (with --overwrite, one
  removed the other's checkpoint before its own existed)."""
  ckpt = str(tmp_path / "work" / "f_real")
  trained, logs = [], []
  meta = {"kind": "f_real", "data": "x"}

  def train():  # an untrained classifier: what is checked is who trains
    trained.append(1)
    cfg = TINY_CONFIG
    model = clf_lib.build_model(2, cfg.classifier)
    params = clf_lib.init_params(model, cfg.n_frames, cfg.features.n_mels, 0)
    ones = np.ones(cfg.features.n_mels, np.float32)
    return clf_lib.Classifier(model, params, 0 * ones, ones)
  os.makedirs(tmp_path / "work")
  with files.exclusive(ckpt + ".lock", "a first evaluation (this test)"):
    other = threading.Thread(target=run_lib._train_or_restore, args=(
        ckpt, meta, False, "f_real", train, 2, TINY_CONFIG, logs.append))
    other.start()
    other.join(0.5)
    assert other.is_alive() and not trained  # waiting for the lock
    clf_lib.save(ckpt, train(), meta)  # what the first evaluation saves
  other.join(60)
  assert not other.is_alive() and len(trained) == 1
  assert logs == [f"f_real: reusing the checkpoint in {ckpt}"]


def test_read_samples_without_manifest_uses_file_names(tmp_path):
  """Without a manifest each WAV's class comes from its name (a name that
  fits no class is an error naming the file); a hidden file, such as the
  temporary WAV a killed writer leaves, is not a clip. Rules out classes
  read from anywhere else, and a temporary file read as an unknown class."""
  d = write_samples_dir(str(tmp_path / "s"), n_per_class=2, manifest=False, mixes=0)
  # A class name with a character that file names replace: cafe/restaurant.
  names = ["cafe/restaurant" if n == "hiss" else n for n in CLASSES]
  os.rename(os.path.join(d, "hiss_001.wav"), os.path.join(d, "cafe_restaurant_001.wav"))
  os.rename(os.path.join(d, "hiss_000.wav"), os.path.join(d, "cafe_x.wav"))
  with pytest.raises(samples_lib.EvalError, match=r"cafe_x\.wav: unknown class"):
    samples_lib.read_samples(d, names, SR)
  os.remove(os.path.join(d, "cafe_x.wav"))
  # a killed writer's temporary file (files.atomic_write's hidden name) is no clip
  shutil.copy(os.path.join(d, "low_tone_000.wav"), os.path.join(d, ".x.wav.tmp123.wav"))
  clips, notes = samples_lib.read_samples(d, names, SR)
  got = {os.path.basename(c.path): c.class_index for c in clips}
  assert got == {"low_tone_000.wav": 0, "low_tone_001.wav": 0, "high_tone_000.wav": 1,
                 "high_tone_001.wav": 1, "cafe_restaurant_001.wav": 2}
  assert any("no manifest.json" in n for n in notes)


def test_clips_still_being_written_are_not_evaluated(tmp_path, monkeypatch):
  """A samples folder that a sample.py holds (writing its clips, or a
  ``--stream`` growing them block by block under a manifest rewritten each
  block) is refused, naming it; once the writer has let go it reads as
  usual, and while it is read a sample.py cannot start writing into it.
  Rules out scoring clips cut short as if they were the run's, and a
  ``sample.py --overwrite`` replacing clips half-way through the read."""
  from samplernn_jax import workdir as workdir_lib
  from samplernn_jax.errors import WorkdirError
  d = write_samples_dir(str(tmp_path / "s"), n_per_class=1, manifest=True, mixes=0)
  with workdir_lib.held_folder(d, "out"):
    # evaluate.py's start (before it packs the real data), and the read itself
    for refusal in (lambda: run_lib._check_start(d, str(tmp_path / "e"), False, None, ""),
                    lambda: samples_lib.read_samples(d, CLASSES, SR)):
      with pytest.raises(samples_lib.EvalError, match=rf"^samples_dir {re.escape(d)}: a "
                         "sample.py is still writing into it"):
        refusal()
  writers = []
  real_read = samples_lib.read_wav

  def read_while_a_writer_starts(path, rate):
    try:
      with workdir_lib.held_folder(d, "out"):
        writers.append("started")
    except WorkdirError:
      writers.append("refused")
    return real_read(path, rate)
  monkeypatch.setattr(samples_lib, "read_wav", read_while_a_writer_starts)
  clips, _ = samples_lib.read_samples(d, CLASSES, SR)
  assert len(clips) == len(CLASSES) and set(writers) == {"refused"}


# The classifier of the fixture above with fewer epochs: jit caches are shared.
TINY_CONFIG = run_lib.EvalConfig(
    window_seconds=WINDOW_S,
    classifier=clf_lib.ClassifierConfig(channels=(8, 16), embed_dim=16, epochs=2,
                                        batch_size=16))


@pytest.fixture()
def dirs(tmp_path):
  return (write_data_dir(str(tmp_path / "data"), n_train=4, n_test=2, valid=False),
          write_samples_dir(str(tmp_path / "samples"), n_per_class=6, mixes=0))


def _edit_manifest(samples, fn):
  path = os.path.join(samples, "manifest.json")
  with open(path) as f:
    entries = json.load(f)
  fn(entries)
  with open(path, "w") as f:
    json.dump(entries, f)


def _no_wavs(data, samples):
  for f in os.listdir(samples):
    os.remove(os.path.join(samples, f))
  return "^samples_dir .*samples: no WAV files"


def _no_samples_nor_data(data, samples):
  """Both missing: the samples are named first, before the real data (class
  folders would be packed, for seconds or minutes, before the typo showed)."""
  os.rename(samples, samples + "_gone")
  os.rename(data, data + "_gone")
  return "^samples_dir .*samples: no such folder"


def _bad_rate(data, samples):
  sf.write(os.path.join(samples, "low_tone_000.wav"), np.zeros(4000), 22050)
  return r"low_tone_000\.wav: sample rate 22050 Hz; expected 16000 Hz"


def _unknown_class_name(data, samples):
  _edit_manifest(samples, lambda e: e[0].update({"class": "jungle", "class_index": None}))
  return r"manifest\.json: entry 0 \(low_tone_000\.wav\): unknown class 'jungle'"


def _class_index_out_of_range(data, samples):
  _edit_manifest(samples, lambda e: e[1].update(class_index=7))
  return r"entry 1 \(low_tone_001\.wav\): class_index 7 is not a class .*0 \.\. 2"


def _names_disagree(data, samples):
  _edit_manifest(samples, lambda e: e[0].update(class_index=2))
  return r"class 'low_tone' with class_index 2, but data_dir names class 2 'hiss'"


def _prime_seconds_infinite(data, samples):
  _edit_manifest(samples, lambda e: e[0].update(prime_seconds=float("inf")))
  return r"entry 0 \(low_tone_000\.wav\): 'prime_seconds' is inf; expected a finite number >= 0"


def _prime_covers_the_clip(data, samples):
  _edit_manifest(samples, lambda e: e[1].update(prime_seconds=10.0))
  return r"low_tone_001\.wav: nothing follows its 10 s of --prime recording to evaluate"


def _manifest_missing_file(data, samples):
  os.remove(os.path.join(samples, "high_tone_001.wav"))
  return r"high_tone_001\.wav: listed in manifest\.json but no such file"


def _missing_test_split(data, samples):
  os.remove(os.path.join(data, "audio_test.npz"))
  return r"missing the test split .*audio_test\.npz"


def _missing_data_dir(data, samples):
  os.rename(data, data + "_gone")
  return r"^data_dir .*data: no such folder"


def _bad_npz_labels(data, samples):
  np.savez(os.path.join(data, "audio_train.npz"),
           wav=np.zeros((2, CLIP), np.float16), sid=np.array([0, 5], np.uint8))
  return r"audio_train\.npz: key 'sid' holds class 5; expected 0 \.\. 2"


def _mismatched_checkpoint(data, samples):
  clf = clf_lib.Classifier(model=None, params={"w": np.zeros(2, np.float32)},
                           mean=np.zeros(1, np.float32), std=np.ones(1, np.float32))
  clf_lib.save(os.path.join(samples, "eval", "f_real"), clf, {"kind": "f_real"})
  return r"f_real: holds a f_real checkpoint trained on other data or settings .*pass --overwrite"


@pytest.mark.parametrize("make_bad", [
    _no_wavs, _no_samples_nor_data, _bad_rate, _unknown_class_name, _class_index_out_of_range,
    _names_disagree, _prime_seconds_infinite, _prime_covers_the_clip,
    _manifest_missing_file, _missing_test_split,
    _missing_data_dir, _bad_npz_labels, _mismatched_checkpoint])
def test_bad_inputs_give_clear_errors(dirs, make_bad):
  """Each of 13 bad inputs (no WAVs, missing folders, a 22.05 kHz WAV, a manifest entry with an
  unknown class, a bad class_index or prime_seconds, a listed file missing, no test split, an
  npz class out of range, an f_real checkpoint of other data) raises EvalError or DataError
  matching the case's pattern (the file, entry and value named), and no eval.json is written.
  Rules out a KeyError or IndexError traceback instead, a message that does not name what is
  wrong, and eval.json written despite the refusal."""
  data, samples = dirs
  pattern = make_bad(data, samples)
  with pytest.raises((samples_lib.EvalError, data_lib.DataError), match=pattern):
    run_lib.evaluate(data, samples, config=TINY_CONFIG, log=lambda s: None)
  assert not os.path.exists(os.path.join(samples, "eval", "eval.json"))


def test_bad_flags(dirs):
  """Bad settings are refused by name: in the library by the setting's name,
  in evaluate.py by the flag's (rules out evaluate.py saying
  ``classifier.epochs`` or ``samples_dir``, names a user never typed, or a
  translation table naming a flag evaluate.py does not define)."""
  data, samples = dirs
  with open(os.path.join(REPO, "evaluate.py")) as f:
    source = f.read()
  defined = set(re.findall(r'flags\.DEFINE_\w+\(\s*"(\w+)"', source))
  table = re.search(r"FLAG_OF = \{(.*?)\}", source, re.S).group(1)
  assert {m[2:] for m in re.findall(r'"(--\w+)"', table)} <= defined
  short = run_lib.EvalConfig(window_seconds=0.01)
  with pytest.raises(samples_lib.EvalError, match=r"^window_seconds 0.01: .*1024"):
    run_lib.evaluate(data, samples, config=short)
  # evaluate.py in a child (its absl flags are process-global and would clash
  # with another script's loaded into this process: sample.py's). The
  # library's errors name its settings (classifier.epochs, samples_dir);
  # evaluate.py's say the flag a user typed instead, and leave a path alone
  # even where it begins with a setting's name (a folder "baseline run").
  odd = os.path.join(os.path.dirname(samples), "baseline run")
  os.makedirs(os.path.join(odd, "eval"))
  open(os.path.join(odd, "eval", "eval.json"), "w").close()
  runs = [(["evaluate.py", "--data_dir", data, "--samples", samples, "--channels", "8,x"],
           None, None),
          (["evaluate.py", "--data_dir", data, "--samples", samples + "_typo", "--epochs", "0"],
           None, None),
          (["evaluate.py", "--data_dir", data, "--samples", samples + "_typo"], None, None),
          (["evaluate.py", "--data_dir", data, "--samples", odd], None, None)]
  procs = run_scripts(runs)
  assert [r.returncode for r in procs] == [2] * 4, [r.stderr for r in procs]
  said = [[l for l in r.stderr.splitlines() if l.startswith("error:")] for r in procs]
  assert said == [["error: --channels '8,x': expected comma-separated ints"],
                  ["error: --epochs 0: must be >= 1"],
                  [f"error: --samples {samples}_typo: no such folder"],
                  [f"error: {odd}/eval: already holds eval.json from an earlier evaluation; "
                   "pass --overwrite (overwrite=True in Python) to replace them, or choose "
                   "another out_dir"]], said
  # a missing required flag is absl's flags.Error, the path test_cli.py's
  # unknown flag takes through cli.parse_flags


def test_random_baseline_run(dirs, tmp_path):
  """baseline='random' on clips of step 0 with an out_dir: eval.json marks the baseline and
  equals the returned dict; the report, titled as the random-model baseline, sets f_real
  against the paper's random model (0.067) and f_gen against none; no step note; f_real's
  checkpoint goes to the default workdir (<samples>/eval), f_gen's to out_dir. Rules out a
  random model compared with the paper's trained figures, a training-step note for step-0
  clips, and f_real saved into out_dir."""
  data, samples = dirs
  _edit_manifest(samples, lambda e: [x.update(step=0) for x in e])
  out = str(tmp_path / "out")
  res = run_lib.evaluate(data, samples, out_dir=out, baseline="random",
                         config=TINY_CONFIG, log=lambda s: None)
  on_disk = json.loads(open(os.path.join(out, "eval.json")).read())
  assert on_disk["baseline"] == "random" and on_disk == json.loads(json.dumps(res))
  assert 0 <= on_disk["f_real_on_generated"] <= 1
  report = open(os.path.join(out, "report.html")).read()
  assert "Random-model baseline" in report
  # the paper gives f_real of a random model (0.067) but no f_gen: not its trained model's
  assert "paper, random model: 0.067" in report and "none for a random model" in report
  assert not any("step" in n for n in on_disk["notes"])  # step 0: no warning
  # The f_real checkpoint went to the default workdir, the rest to out_dir.
  assert os.path.isdir(os.path.join(samples, "eval", "f_real"))
  assert os.path.isdir(os.path.join(out, "f_gen"))


def test_random_baseline_samples_an_untrained_model(dirs, tmp_path):
  """With an empty --samples, --baseline random generates an untrained model's
  clips. Given a workdir and no out_dir, the classifiers go to the workdir and
  the outputs to <samples>/eval: rules out outputs written into a workdir
  that several sample directories share (the next one would find its
  eval.json)."""
  data, _ = dirs
  samples, workdir = str(tmp_path / "untrained"), str(tmp_path / "classifiers")
  small = tmp_path / "small.py"  # tiny.py at dim 16, one layer: what is checked is where files go
  small.write_text("from samplernn_jax import config\n\n\ndef get_config():\n"
                   f"  c = config.load_config_file({os.path.join(REPO, 'configs', 'tiny.py')!r})\n"
                   "  c.dim, c.n_rnn = 16, 1\n  return c\n")
  res = run_lib.evaluate(data, samples, workdir=workdir, baseline="random",
                         config=TINY_CONFIG, log=lambda s: None,
                         baseline_config=str(small), baseline_per_class=2)
  assert os.path.isfile(os.path.join(samples, "eval", "eval.json"))
  assert os.path.isdir(os.path.join(samples, "eval", "f_gen"))
  in_workdir = os.listdir(workdir)
  assert in_workdir and all(n.startswith("f_real") for n in in_workdir), in_workdir
  with open(os.path.join(samples, "manifest.json")) as f:
    manifest = json.load(f)
  names = json.load(open(os.path.join(data, "classes.json")))
  assert len(manifest) == 2 * len(names)
  assert {m["step"] for m in manifest} == {0}
  assert sorted({m["class"] for m in manifest}) == sorted(names)
  assert 0 <= res["f_real_on_generated"] <= 1


def test_a_missing_baseline_config_is_named_before_the_data_is_read(tmp_path):
  """The random baseline's model config is checked at the start, where its
  clips are still to be made: rules out the check left to the sampling (a
  wheel install has no configs/default.py, and the error came after the real
  data was read, which for class folders means packed) and a check that also
  refuses a folder of clips already made (they need no config)."""
  samples, missing = tmp_path / "untrained", str(tmp_path / "no_such.py")
  with pytest.raises(samples_lib.EvalError, match=r"^baseline_config .*no_such\.py: no such config"):
    run_lib.evaluate(str(tmp_path / "no_data"), str(samples), baseline="random",
                     baseline_config=missing, log=lambda s: None)
  assert not samples.exists()
  samples.mkdir()
  sf.write(str(samples / "x_000.wav"), np.zeros(100, np.float32), 16000)
  with pytest.raises(samples_lib.EvalError, match="^data_dir .*no_data"):  # on to the data
    run_lib.evaluate(str(tmp_path / "no_data"), str(samples), baseline="random",
                     baseline_config=missing, log=lambda s: None)


def test_the_random_baseline_draws_as_sample_py_or_as_the_paper(tmp_path):
  """An untrained model's clips are drawn as sample.py draws a trained
  model's (level class, temperature 0.95: what they are compared with), or
  with ``paper_draw`` as the paper drew every clip (minmax, 1.0), and
  model.json says which. Rules out a "paper's 6.7 % row" drawn only the
  first way, with no way to draw it the paper's."""
  config = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  config.dim, config.n_rnn = 16, 1
  records = {}
  for paper in (False, True):
    out = str(tmp_path / f"paper{paper}")
    sample_files.sample_untrained(config, ["a", "b"], out, 1, 0.05, class_rms=[0.1, 0.2],
                                  paper_draw=paper)
    records[paper] = json.load(open(os.path.join(out, "model.json")))
  assert (records[False]["level"], records[False]["temperature"]) == ("class", 0.95)
  assert (records[True]["level"], records[True]["temperature"]) == ("minmax", 1.0)


# ---------------------------------------------------------------------------
# Figures a reader can trust: spread over seeds, the real-vs-real floor,
# chance, the model that made the clips, class-folder data


def test_f_real_cache_key_covers_every_clip(tmp_path, npz_writer):
  """The f_real checkpoint's data key changes when any clip changes, the
  middle ones included (same shape, labels and file size); the same content
  in another file keeps it. Rules out the key of the first and last clips,
  which reused an f_real trained on other recordings after a same-sized
  repack."""
  rng = np.random.default_rng(0)
  wav = (0.1 * rng.standard_normal((6, 800))).astype(np.float16)
  sid = np.arange(6, dtype=np.uint8) % 3
  louder = wav.copy()
  louder[2:4] *= 10
  keys = []
  for name, w in (("a", wav), ("b", wav), ("c", louder)):
    path = npz_writer(tmp_path / name, "train", w, sid)
    keys.append(run_lib._split_fingerprint(data_lib.load_split(path)))
  assert keys[0] == keys[1] and keys[0] != keys[2]
  assert keys[0]["bytes"] == keys[2]["bytes"]


def test_notes_say_which_classes_have_no_generated_clip():
  """Generated clips of some classes only: one note names the missing ones
  and what it costs (f_gen, the overall Frechet distance); every class
  present: no such note. A Frechet distance left null says so once, not
  once per classifier seed. Rules out f_gen and Frechet figures of a
  --classes subset reported as if they stood for every class."""
  cfg = run_lib.EvalConfig()
  clip = lambda k: samples_lib.Clip(f"c{k}.wav", k, np.zeros(cfg.window, np.float32))
  notes = run_lib._input_notes({}, [clip(0), clip(0)], ["bus", "park", "home"], "s", None, cfg)
  assert [n for n in notes if n.startswith("no generated clip")] == [
      "no generated clip of park, home: f_gen never learns those classes (so misses "
      "their real test clips), and the overall Frechet distance sets every real test "
      "clip against the other classes' clips"]
  assert run_lib._input_notes({}, [clip(0), clip(1)], ["bus", "park"], "s", None, cfg) == []
  notes = []
  for _ in range(3):  # three seeds
    assert run_lib._frechet_or_none(np.zeros((1, 4)), np.zeros((5, 4)), "of class 'bus'",
                                    notes) is None
  assert len(notes) == 1


def test_spread_floor_chance_and_model(tmp_path, monkeypatch):
  """Two classifier seeds: every figure is the mean of the per-seed figures,
  and each per-seed figure is what that seed's own checkpoint gives when
  re-scored here (rules out one classifier scored twice, or the seeds not
  reaching the classifier). The Frechet distance is that of the real test
  and the generated embeddings, and the floor that of the real valid and
  real test ones (each rules out comparing a set with itself, which gives
  0), and so is each class's (its real test clips against its generated
  ones: rules out a class compared with itself or with another class). Chance
  and the model.json record are reported; the real test split has 6, 5 and
  5 clips of the classes, so the majority class's share is 6/16, not 1/3
  (rules out chance taken as 1 / classes or the smallest class). The
  headline Frechet figures are the seeds' means, their min and max the
  seeds' (which differ here: f_real scores 1.0 with either seed); each
  seed's f_gen is its own classifier, scoring what the spread says; f_real
  is trained on the train split's windows (valid: the valid split's), f_gen
  on the generated clips'; the report quotes the floor and the majority
  share. Rules out every figure taken from the first seed, min and max
  swapped, one f_gen seed for all, f_real trained on the test split (as
  separable here as the train split), and a report row quoting another
  figure."""
  trained_on = []  # (name, feats, labels, valid) of each classifier trained
  real_train = clf_lib.train

  def recording_train(feats, labels, *args, **kwargs):
    trained_on.append((kwargs.get("name"), np.asarray(feats), np.asarray(labels),
                       kwargs.get("valid")))
    return real_train(feats, labels, *args, **kwargs)
  monkeypatch.setattr(clf_lib, "train", recording_train)
  data = write_data_dir(str(tmp_path / "data"))
  with np.load(os.path.join(data, "audio_test.npz")) as z:  # one clip fewer of classes 1, 2
    keep = np.r_[0:6, 7:12, 13:18]
    np.savez(os.path.join(data, "audio_test.npz"), wav=z["wav"][keep], sid=z["sid"][keep])
  samples = write_samples_dir(str(tmp_path / "samples"), mixes=0)
  with open(os.path.join(samples, sample_files.MODEL_JSON), "w") as f:
    json.dump({"workdir": "runs/x", "step": 123, "config": {"dim": 8}, "guidance": 2.5,
               "seed": 41}, f)
  cfg = run_lib.EvalConfig(
      window_seconds=WINDOW_S, seeds=(0, 5),
      classifier=clf_lib.ClassifierConfig(channels=(8, 16), embed_dim=16, epochs=4,
                                          batch_size=16))
  res = run_lib.evaluate(data, samples, config=cfg, log=lambda s: None)
  wd = os.path.join(samples, "eval")
  names, splits = run_lib._load_real(data, None)
  x_test, y_test, _ = run_lib._split_features(splits["test"], cfg, "first")
  x_valid = run_lib._split_features(splits["valid"], cfg, "first")[0]
  clips, _ = samples_lib.read_samples(samples, names, SR)
  x_gen, y_gen, _ = feat_lib.features_of_clips(
      [(c.wav, c.class_index) for c in clips], cfg.window, "first", cfg.features)
  per_seed, floors, frechets, per_class = [], [], [], []
  params = []
  for seed, sub in ((0, "f_real"), (5, "f_real_seed5")):
    clf = clf_lib.restore(os.path.join(wd, sub), 3, cfg.with_seed(seed),
                          cfg.n_frames, cfg.features.n_mels)
    params.append(jax_leaves(clf.params))
    per_seed.append(clf_lib.accuracy(clf.predict(x_gen)[0], y_gen))
    floors.append(frechet_lib.frechet_of_sets(clf.predict(x_valid)[1],
                                              clf.predict(x_test)[1]))
    emb_test, emb_gen = clf.predict(x_test)[1], clf.predict(x_gen)[1]
    frechets.append(frechet_lib.frechet_of_sets(emb_test, emb_gen))
    per_class.append([frechet_lib.frechet_of_sets(emb_test[y_test == c], emb_gen[y_gen == c])
                      for c in range(3)])
  assert not all(np.array_equal(a, b) for a, b in zip(*params))  # two classifiers
  sp = res["spread"]["f_real_on_generated"]
  assert sp["per_seed"] == pytest.approx(per_seed)
  assert res["f_real_on_generated"] == pytest.approx(np.mean(per_seed))
  assert (sp["min"], sp["max"]) == (min(per_seed), max(per_seed))
  fl = res["spread"]["frechet_real_floor"]
  assert fl["per_seed"] == pytest.approx(floors, rel=1e-5)
  assert min(floors) > 0
  assert res["spread"]["frechet"]["per_seed"] == pytest.approx(frechets, rel=1e-5)
  assert min(frechets) > 0
  assert res["frechet"] == pytest.approx(np.mean(frechets), rel=1e-5)
  assert res["frechet_real_floor"] == pytest.approx(np.mean(floors), rel=1e-5)
  fr = res["spread"]["frechet"]
  assert min(frechets) < max(frechets) * (1 - 1e-3)  # the seeds differ, so min != max
  assert (fr["min"], fr["max"]) == pytest.approx((min(frechets), max(frechets)), rel=1e-5)
  # each seed's f_gen: its own parameters, scoring the real test clips as the spread says
  gen_params, gen_acc = [], []
  for seed, sub in ((0, "f_gen"), (5, "f_gen_seed5")):
    clf = clf_lib.restore(os.path.join(wd, sub), 3, cfg.with_seed(seed),
                          cfg.n_frames, cfg.features.n_mels)
    gen_params.append(jax_leaves(clf.params))
    gen_acc.append(clf_lib.accuracy(clf.predict(x_test)[0], y_test))
  assert not all(np.array_equal(a, b) for a, b in zip(*gen_params))
  assert res["spread"]["f_gen_on_real_test"]["per_seed"] == pytest.approx(gen_acc)
  # what each classifier was trained on
  x_train, y_train, _ = run_lib._split_features(splits["train"], cfg, "cover")
  x_gen_cover, y_gen_cover, _ = feat_lib.features_of_clips(
      [(c.wav, c.class_index) for c in clips], cfg.window, "cover", cfg.features)
  assert sorted(name for name, *_ in trained_on) == [
      "f_gen seed 0", "f_gen seed 5", "f_real seed 0", "f_real seed 5"]
  for name, feats, labels, valid in trained_on:
    if name.startswith("f_real"):
      np.testing.assert_array_equal(feats, x_train)
      np.testing.assert_array_equal(labels, y_train)
      np.testing.assert_array_equal(valid[0], x_valid)
    else:
      np.testing.assert_array_equal(feats, x_gen_cover)
      np.testing.assert_array_equal(labels, y_gen_cover)
      assert valid is None
  want = np.mean(per_class, axis=0)
  assert [res["frechet_per_class"][c] for c in CLASSES] == pytest.approx(want, rel=1e-5)
  assert want.min() > 0
  assert res["chance"]["uniform"] == pytest.approx(1 / 3)
  assert res["chance"]["real_test_majority"] == pytest.approx(6 / 16)
  assert res["model"]["step"] == 123 and res["model"]["config"] == {"dim": 8}
  assert res["seeds"] == [0, 5]
  page = open(os.path.join(wd, "report.html")).read()
  assert "runs/x" in page
  assert f"always the largest real test class: {6 / 16:.3f}" in page
  floor = res["spread"]["frechet_real_floor"]
  assert (f"<th>Frechet floor (real valid vs real test)</th><td>{floor['mean']:.1f} "
          f"(min {floor['min']:.1f}, max {floor['max']:.1f})</td>") in page
  # the settings that tell two sets of clips apart (guidance 2.5 vs 1 looked alike)
  assert "&quot;guidance&quot;: 2.5" in page and "&quot;seed&quot;: 41" in page


def test_each_classifier_is_trained_and_scored_on_its_own_clips(tmp_path):
  """Generated clips labelled high_tone sound like hiss and those labelled
  hiss like a high tone; low_tone clips are right. So, per class (low_tone,
  high_tone, hiss):

  - f_real (trained on the real train split) on the real test clips: right
    on all three; on the generated clips: right on low_tone only;
  - f_gen (trained on the generated clips, learning the swapped labels) on
    the real test clips: right on low_tone only.

  "Right" is an accuracy of at least 0.8 and "wrong" at most 0.2 (chance is
  1/3; the classes are trivially separable, measured 1.0 and 0.0). Rules out
  f_gen trained on real clips or scored on generated ones (all three right),
  f_real scoring the real test split twice (all right on "generated") or
  trained on generated clips (real test wrong), and per-class figures that
  are the overall accuracy (1/3 each) or belong to other classes; each
  overall accuracy must be the mean of its per-class ones (balanced sets).
  """
  data = write_data_dir(str(tmp_path / "data"))
  samples = write_samples_dir(str(tmp_path / "samples"), n_per_class=12, length=CLIP,
                              mixes=0, sounds={1: 2, 2: 1})
  cfg = run_lib.EvalConfig(
      window_seconds=WINDOW_S, seeds=(0,),
      classifier=clf_lib.ClassifierConfig(channels=(8, 16), embed_dim=16, epochs=6,
                                          batch_size=16))
  res = run_lib.evaluate(data, samples, config=cfg, log=lambda s: None)
  want = {"f_real_on_real_test": [True, True, True],
          "f_real_on_generated": [True, False, False],
          "f_gen_on_real_test": [True, False, False]}
  for key, right in want.items():
    per_class = res["per_class_accuracy"][key]
    assert list(per_class) == CLASSES, key
    got = [per_class[c] for c in CLASSES]
    assert all((a >= 0.8) if r else (a <= 0.2) for a, r in zip(got, right)), (key, got)
    assert res[key] == pytest.approx(np.mean(got), abs=1e-9), key


def test_per_class_accuracy_is_each_classs_recall():
  """A class's accuracy is the fraction of its clips predicted as it (the
  per-class figure of eval.json and the README's tables), None for a class
  with no clips: on labels
  (a, a, b, b, c) and predictions (a, a, a, b, b), a 1, b 0.5, c 0, d None.
  Rules out the precision (the fraction of clips predicted as the class that
  are of it: a 2/3, b 0.5, c undefined), which the swapped-sound test above
  cannot tell apart (there both are equal)."""
  got = run_lib.per_class_accuracy(np.array([0, 0, 1, 1, 2]), np.array([0, 0, 0, 1, 1]),
                                   ["a", "b", "c", "d"])
  assert got == {"a": 1.0, "b": 0.5, "c": 0.0, "d": None}


def test_confusion_matrix_rows_are_the_true_classes():
  """report.confusion_matrix counts row = true class, column = predicted (as
  its figures are labelled and normalised per row): labels (0, 0, 1, 2) and
  predictions (1, 0, 1, 1) give [[1, 1, 0], [0, 1, 0], [0, 1, 0]]. Rules out
  the transposed matrix, whose rows would be the predicted classes."""
  got = report_lib.confusion_matrix(np.array([0, 0, 1, 2]), np.array([1, 0, 1, 1]), 3)
  np.testing.assert_array_equal(got, [[1, 1, 0], [0, 1, 0], [0, 1, 0]])


def jax_leaves(tree):
  import jax
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_data_dir_of_class_folders_is_packed(tmp_path):
  """--data_dir may be a folder of class sub-folders, as train.py takes it:
  it is packed once into <data_dir>/.packed and evaluated. Rules out the
  refusal for lack of audio_train.npz. (The library's evaluate, in this
  process: evaluate.py's wiring is test_evaluate_end_to_end_and_no_overwrite's.)"""
  src = tmp_path / "folders"
  rng = np.random.default_rng(0)
  for c, name in enumerate(CLASSES):
    (src / name).mkdir(parents=True)
    for i in range(10):  # 10 recordings of one 8 s clip: split 8 / 1 / 1
      sf.write(str(src / name / f"r{i}.wav"), synth(c, 1, 8 * SR, rng)[0], SR)
  # No manifest: labels by file name, whatever order the packer gives classes.
  samples = write_samples_dir(str(tmp_path / "samples"), mixes=0, manifest=False)
  one_seed = dataclasses.replace(TINY_CONFIG, seeds=(0,))
  run_lib.evaluate(str(src), samples, config=one_seed, log=lambda s: None)
  assert (src / ".packed" / "audio_train.npz").is_file()
  res = json.loads((tmp_path / "samples" / "eval" / "eval.json").read_text())
  assert sorted(res["class_names"]) == sorted(CLASSES)
  assert res["paths"]["data_dir"] == str(src / ".packed")


SWEEP_CHECK = r'''
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("quality_sweep", "scripts/quality_sweep.py")
qs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(qs)
wd, path = sys.argv[1], os.path.join(sys.argv[1], "rows.jsonl")
row = lambda level, f: {"workdir": wd, "step": 60, "temperature": 0.95, "guidance": 1.0,
                        "level": level, "sampling_seed": 0, "f": f}
qs.add_row(path, row("class", 0.1))
qs.add_row(path, row("minmax", 0.2))
qs.add_row(path, row("class", 0.3))  # the same setting, measured again
with open(os.path.join(wd, "metrics.jsonl"), "w") as f:
  f.write(json.dumps({"step": 60, "valid_bits": 3.5, "test_bits": 3.6}) + "\n{torn")
print(json.dumps({"rows": [json.loads(l) for l in open(path)],
                  "bits": qs._checkpoint_bits(wd, 60),
                  "dirs": [qs.setting_dir("o", 60, 0.95, g, "class") for g in (1.0, 3.0)]}))
'''


def test_quality_sweep_keeps_one_row_a_setting_and_reads_damaged_metrics(tmp_path):
  """scripts/quality_sweep.py's bookkeeping, in a child (its absl flags
  would clash with other scripts' in this process): a setting measured again
  (a rerun with --overwrite) replaces its row in rows.jsonl, another level
  adds one; the checkpoint's bits are read past a torn metrics line; guided
  settings get their own folders. Rules out the appended duplicate rows that
  doubled settings in --table, and the JSON traceback a damaged metrics.jsonl
  gave where training and every other reader skip the line."""
  proc = subprocess.run([sys.executable, "-c", SWEEP_CHECK, str(tmp_path)], cwd=REPO,
                        env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-3000:]
  got = json.loads(proc.stdout.splitlines()[-1])
  assert [(r["level"], r["f"]) for r in got["rows"]] == [("minmax", 0.2), ("class", 0.3)]
  assert got["bits"] == {"valid_bits": 3.5, "test_bits": 3.6}
  assert got["dirs"] == ["o/step60_T0.95_class", "o/step60_T0.95_g3_class"]


SWEEP_BAD_FLAGS = {
    "--classifier_seeds=0,x": "error: --classifier_seeds '0,x': expected comma-separated ints",
    "--temperatures=hot": "error: --temperatures 'hot': expected comma-separated numbers",
    "--seconds=0.2": "error: --seconds=0.2: expected at least 1 (the drift figures"}


def test_quality_sweep_names_a_bad_flag_before_any_work(tmp_path):
  """quality_sweep.py with a seed or temperature that is not a number, or
  clips shorter than the second its drift figures need: one error line
  naming the flag, before the checkpoint or data is read (the workdir and
  data given do not exist). Rules out int()'s bare "invalid literal" and a
  "clips of 3200 samples are shorter than a second" after the sampling.
  (The three runs share one child: conftest.run_scripts.)"""
  common = ["scripts/quality_sweep.py", "--workdir", tmp_path / "none", "--data_dir",
            tmp_path / "none", "--out", tmp_path / "out"]
  procs = run_scripts([([*common, flag], None, None) for flag in SWEEP_BAD_FLAGS])
  for proc, line in zip(procs, SWEEP_BAD_FLAGS.values()):
    errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-3000:]
    assert errors[0].startswith(line), errors[0]
  assert not (tmp_path / "out").exists()


def test_synthetic_data_dir_is_evaluated_like_train_pys(tmp_path):
  """--data_dir synthetic (train.py's synthetic classes, as train.py takes
  it) is evaluated: f_real learns the four synthetic classes from a fresh
  draw and a run's clips are matched to them by class name (a clip labelled
  with another class's name is refused), and eval.json names the data
  "synthetic" (f_real's cache key made for splits that have no file).
  Rules out the refusal "data_dir
  synthetic: no such directory" that broke the tiny config's train ->
  sample -> evaluate path, and synthetic clips matched by index only."""
  from samplernn_jax import synthetic
  rng = np.random.default_rng(0)
  samples = tmp_path / "samples"
  samples.mkdir()
  entries = []
  for c, name in enumerate(synthetic.CLASS_NAMES):
    for i in range(2):
      sf.write(str(samples / f"{name}_{i}.wav"), synthetic.make_clip(c, 8000, rng), SR,
               subtype="FLOAT")
      entries.append({"file": f"{name}_{i}.wav", "class": name, "class_index": c})
  (samples / "manifest.json").write_text(json.dumps(entries))
  cfg = run_lib.EvalConfig(
      window_seconds=WINDOW_S, seeds=(0,),
      classifier=clf_lib.ClassifierConfig(channels=(8, 16), embed_dim=16, epochs=1,
                                          batch_size=64))
  logs = []
  res = run_lib.evaluate("synthetic", str(samples), config=cfg, log=logs.append)
  assert res["class_names"] == list(synthetic.CLASS_NAMES)
  assert res["paths"]["data_dir"] == "synthetic"
  assert res["counts"]["generated_clips"] == 8
  assert res["f_real_on_real_test"] > 0.5  # chance 0.25
  entries[0]["class"] = "rumble"  # a tone clip under another class's name
  (samples / "manifest.json").write_text(json.dumps(entries))
  with pytest.raises(run_lib.EvalError, match="class 'rumble' with class_index 0"):
    run_lib.evaluate("synthetic", str(samples), config=cfg, log=logs.append, overwrite=True)
