"""Tests of the packers (samplernn_jax/packing.py, scripts/pack_*.py).

Fixtures are generated in tmp_path: a fake TUT 2016 tree and a class-folder
tree of short tones. Every recording is a pure tone of its own frequency, so
the FFT peak of a packed clip tells which recording it came from. Clips are
0.5 s (8 000 samples at 16 kHz) to keep the files tiny.
"""
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import soundfile as sf

from conftest import snapshot, subprocess_env
from samplernn_jax import data
from samplernn_jax import packing
from samplernn_jax.data import DCASE2016_CLASSES, DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = 16000
CLIP_S = 0.5
CLIP = int(SR * CLIP_S)


def tone(freq, seconds, sr, channels=1, amp=0.3):
  t = np.arange(int(round(seconds * sr))) / sr
  x = amp * np.sin(2 * np.pi * freq * t)
  return np.stack([x * (1 - 0.5 * c / max(channels - 1, 1)) for c in range(channels)], 1)


def peak_hz(clip, sr=SR):
  spec = np.abs(np.fft.rfft(np.asarray(clip, np.float64)))
  return np.argmax(spec) * sr / len(clip)


def load(out, split):
  with np.load(data.split_path(out, split), allow_pickle=False) as z:
    return {k: z[k] for k in z.files}



def check_clips_match_recordings(out, split, freq_to_class):
  """Every clip's tone is a recording's, and its sid is that recording's class."""
  d = load(out, split)
  freqs = set()
  for clip, sid in zip(d["wav"], d["sid"]):
    f = peak_hz(clip)
    match = [g for g in freq_to_class if abs(g - f) <= 4]
    assert len(match) == 1, (split, f)
    assert freq_to_class[match[0]] == sid, (split, f, sid)
    freqs.add(match[0])
  return freqs


# ---------------------------------------------------------------------------
# Fixtures

DCASE_USED = ("bus", "cafe/restaurant", "beach", "park")  # ids 0, 1, 7, 14


def make_tut(root, seconds=1.1):
  """A fake TUT 2016 development tree; returns freq -> class id and file -> loc.

  Per class: 2 train locations with 2 segments each, 2 evaluate locations with
  one segment each; 44.1 kHz stereo, ``seconds`` long (2 clips of 0.5 s).
  """
  os.makedirs(os.path.join(root, "audio"))
  os.makedirs(os.path.join(root, "evaluation_setup"))
  meta, train, evaluate, freq_to_class, loc_of = [], [], [], {}, {}
  k = 0
  for c, label in enumerate(DCASE_USED):
    for j in range(4):
      loc = f"{'abcd'[c]}{j:03d}"
      for seg in range(2 if j < 2 else 1):
        name = f"audio/{loc}_{30 * seg}_{30 * seg + 30}.wav"
        freq = 300 + 100 * k
        k += 1
        sf.write(os.path.join(root, name), tone(freq, seconds, 44100, 2), 44100)
        freq_to_class[freq] = DCASE2016_CLASSES.index(label)
        loc_of[freq] = loc
        meta.append(f"{name}\t{label}\t{loc}")
        (train if j < 2 else evaluate).append(f"{name}\t{label}")
  with open(os.path.join(root, "meta.txt"), "w") as f:
    f.write("\n".join(meta) + "\n")
  es = os.path.join(root, "evaluation_setup")
  with open(os.path.join(es, "fold1_train.txt"), "w") as f:
    f.write("\n".join(train) + "\n")
  with open(os.path.join(es, "fold1_evaluate.txt"), "w") as f:
    f.write("\n".join(evaluate) + "\n")
  with open(os.path.join(es, "fold1_test.txt"), "w") as f:
    f.write("\n".join(e.split("\t")[0] for e in evaluate) + "\n")
  return freq_to_class, loc_of


def make_tut_eval(root, first_freq=5000):
  """A fake TUT 2016 evaluation tree (labelled meta.txt, two columns)."""
  os.makedirs(os.path.join(root, "audio"))
  freq_to_class, meta = {}, []
  for i, label in enumerate(DCASE_USED):
    freq = first_freq + 100 * i
    sf.write(os.path.join(root, f"audio/{i + 1}.wav"), tone(freq, 1.1, 44100, 2), 44100)
    meta.append(f"audio/{i + 1}.wav\t{label}")
    freq_to_class[freq] = DCASE2016_CLASSES.index(label)
  with open(os.path.join(root, "meta.txt"), "w") as f:
    f.write("\r\n".join(meta) + "\r\n")  # Windows line ends are fine too
  return freq_to_class


# (extension, subtype, rate, channels) per recording, cycling inside each class.
FORMATS = (("wav", "PCM_16", 44100, 2), ("flac", "PCM_16", 22050, 1),
           ("ogg", "VORBIS", 32000, 2), ("wav", "FLOAT", 48000, 4),
           ("flac", "PCM_24", 16000, 1))


def make_folder_tree(root, classes=("street", "birds", "rain"), per_class=5,
                     seconds=1.1):
  """Class folders of tones in mixed formats, rates and channel counts."""
  freq_to_class, k = {}, 0
  for c, name in enumerate(sorted(classes)):
    os.makedirs(os.path.join(root, name))
    for i in range(per_class):
      ext, subtype, rate, ch = FORMATS[(i + c) % len(FORMATS)]
      freq = 300 + 150 * k
      k += 1
      sf.write(os.path.join(root, name, f"rec{i}.{ext}"), tone(freq, seconds, rate, ch),
               rate, subtype=subtype)
      freq_to_class[freq] = c
  return freq_to_class


@pytest.fixture(scope="module")
def tut(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("tut") / "TUT-acoustic-scenes-2016-development")
  freq_to_class, loc_of = make_tut(root)
  return root, freq_to_class, loc_of


# ---------------------------------------------------------------------------
# Audio pieces


@pytest.mark.parametrize("sr_in", [44100, 48000, 22050, 8000])
def test_resample_keeps_tone_frequency(sr_in):
  """A 1 s, 1 kHz tone of amplitude 0.3 resampled to 16 kHz from 44.1, 48, 22.05 and 8 kHz:
  resampled_length's count of samples (within 1 of 16000), its FFT peak within 1 Hz of
  1000 Hz (1 Hz bins), its amplitude 0.3 +- 0.01 away from the edges. Rules out the up and
  down factors swapped, no resampling at all (the input rate's length), and a filter gain
  that scales the signal."""
  x = tone(1000.0, 1.0, sr_in)[:, 0]
  y = packing.resample(x, sr_in, SR)
  assert len(y) == packing.resampled_length(len(x), sr_in, SR)
  assert abs(len(y) - SR) <= 1
  assert abs(peak_hz(y[:SR]) - 1000.0) <= 1.0
  # The amplitude survives the filter (away from the edges).
  assert np.max(np.abs(y[1000:-1000])) == pytest.approx(0.3, abs=0.01)


def test_resample_filters_what_would_alias():
  """A 12 kHz tone at 44.1 kHz, above the new 8 kHz Nyquist, is removed by resampling to
  16 kHz: under 1 % of its 0.3 amplitude remains away from the edges. Rules out resampling
  by picking or interpolating samples without a low-pass filter, which folds the tone to
  4 kHz at nearly full amplitude."""
  # 12 kHz is above the new Nyquist (8 kHz); plain decimation would fold it to
  # 4 kHz at full amplitude, the polyphase filter removes it.
  x = tone(12000.0, 1.0, 44100)[:, 0]
  y = packing.resample(x, 44100, SR)
  assert np.max(np.abs(y[1000:-1000])) < 0.3 * 1e-2


def test_read_mono_averages_channels(tmp_path):
  """A stereo float WAV at 8 kHz with left 0.5 and right -0.25 reads as 100 mono samples of
  0.125 at rate 8000. Rules out the first channel taken (0.5), channels summed (0.25), and
  the [n, 2] frames returned unmixed."""
  p = str(tmp_path / "st.wav")
  left, right = np.full(100, 0.5), np.full(100, -0.25)
  sf.write(p, np.stack([left, right], 1), 8000, subtype="FLOAT")
  x, sr = packing.read_mono(p)
  assert sr == 8000 and x.shape == (100,)
  np.testing.assert_allclose(x, 0.125)


def test_cut_clips_drops_remainder():
  """cut_clips of 25 samples into clips of 10 gives [2, 10] holding samples 0 .. 19 in order.
  Rules out the remainder padded into a third clip, clips taken from the end (samples
  5 .. 24), and overlapping clips."""
  x = np.arange(25.0)
  c = packing.cut_clips(x, 10)
  assert c.shape == (2, 10)
  np.testing.assert_array_equal(c.ravel(), x[:20])


@pytest.mark.parametrize("sr_in", [44100, 48000, 22050, 8000, 11025])
def test_resampled_length_is_what_resample_gives(sr_in):
  """``resampled_length`` (what the header check counts clips from) equals
  the length ``resample`` returns, for lengths that do and do not divide
  evenly. Rules out a floor where resample_poly rounds up: a file whose
  resampled length is one sample past a clip boundary would be promised one
  clip fewer than it decodes to, and refused as damaged."""
  for n in (1, 2, 440, 441, 4409, 44101, 48001):
    assert packing.resampled_length(n, sr_in, SR) == len(
        packing.resample(np.zeros(n), sr_in, SR)), (n, sr_in)


def test_write_npz_is_what_np_savez_writes(tmp_path):
  """write_npz, fed float16 [5, 7] in two blocks, writes the members np.savez writes (wav.npy,
  sid.npy, in that order), stored uncompressed and byte for byte equal; load_split
  memory-maps it with the same samples, and no '.writing' file is left. Rules out another
  npy header (version 2.0, or the first block's shape), compressed members (no
  memory-mapping), and the temporary file left beside the output."""
  rng = np.random.default_rng(0)
  wav = rng.standard_normal((5, 7)).astype(np.float16)
  sid = np.array([0, 3, 3, 1, 2], np.uint8)
  ours, ref = str(tmp_path / "ours.npz"), str(tmp_path / "ref.npz")
  packing.write_npz(ours, 7, 5, [wav[:2], wav[2:]], sid)
  np.savez(ref, wav=wav, sid=sid)
  with zipfile.ZipFile(ours) as a, zipfile.ZipFile(ref) as b:
    assert a.namelist() == b.namelist() == ["wav.npy", "sid.npy"]
    for name in a.namelist():
      assert a.getinfo(name).compress_type == zipfile.ZIP_STORED
      assert a.read(name) == b.read(name)
  split = data.load_split(ours)
  assert isinstance(split.wav, np.memmap)  # uncompressed: memory-mapped
  np.testing.assert_array_equal(split.wav, wav)
  assert not os.path.exists(ours + ".writing")


def test_write_npz_wrong_count_leaves_nothing(tmp_path):
  """write_npz promised 3 clips but given one block of 2 raises ValueError "expected 3" and
  leaves the folder empty. Rules out a file whose header claims more rows than it holds
  written without complaint, and the '.writing' temporary (or a half-written npz) left
  behind on failure."""
  p = str(tmp_path / "x.npz")
  with pytest.raises(ValueError, match="expected 3"):
    packing.write_npz(p, 4, 3, [np.zeros((2, 4))], np.zeros(3, np.uint8))
  assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# DCASE 2016


def test_pack_dcase2016_script_end_to_end(tut, tmp_path):
  """scripts/pack_dcase2016.py on the fake TUT tree (classes 0, 1, 7, 14; 44.1 kHz stereo):
  exit 0, 48 clips, three float16 [N, 8000] splits at 16 kHz and classes.json of all 15
  DCASE names; every clip is the tone of a recording of its sid's class, train holds 16
  recordings, valid and test every class, no recording in two splits. Rules out class ids
  by order of appearance (0 .. 3), recordings not resampled (tones at the wrong
  frequency), and a classes.json of only the classes present."""
  src, freq_to_class, loc_of = tut
  out = str(tmp_path / "datasets")
  r = subprocess.run([sys.executable, "scripts/pack_dcase2016.py", "--src", src,
                      "--out", out, "--clip_seconds", str(CLIP_S)],
                     cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert r.returncode == 0, r.stderr
  assert "total: 48 clips" in r.stdout and "cafe/restaurant" in r.stdout
  assert sorted(os.listdir(out)) == ["audio_test.npz", "audio_train.npz",
                                     "audio_valid.npz", "classes.json"]
  with open(os.path.join(out, "classes.json")) as f:
    assert json.load(f) == list(DCASE2016_CLASSES)
  freqs = {}
  for split in data.SPLITS:
    d = load(out, split)
    assert set(d) == {"wav", "sid", "sample_rate"} and int(d["sample_rate"]) == 16000
    assert d["wav"].dtype == np.float16 and d["sid"].dtype == np.uint8
    assert d["wav"].ndim == 2 and d["wav"].shape[1] == CLIP
    assert d["sid"].shape == (d["wav"].shape[0],)
    freqs[split] = check_clips_match_recordings(out, split, freq_to_class)
    data.load_split(data.split_path(out, split), n_classes=15)
  # 4 classes x 4 train recordings x 2 clips; evaluate: 4 x 2 recordings x 2 clips.
  assert load(out, "train")["wav"].shape[0] == 32
  assert len(freqs["train"]) == 16
  assert len(freqs["valid"]) + len(freqs["test"]) == 8
  assert sorted(np.unique(load(out, "train")["sid"])) == [0, 1, 7, 14]
  # One of the two evaluate locations of every class goes to each of valid, test.
  for split in ("valid", "test"):
    assert sorted(np.unique(load(out, split)["sid"])) == [0, 1, 7, 14]
  assert not (freqs["train"] & freqs["valid"] or freqs["train"] & freqs["test"]
              or freqs["valid"] & freqs["test"])
  locs = {s: {loc_of[f] for f in freqs[s]} for s in freqs}
  assert not (locs["train"] & locs["valid"] or locs["train"] & locs["test"]
              or locs["valid"] & locs["test"])


def test_pack_dcase2016_with_eval_src(tut, tmp_path):
  """pack_dcase2016 with eval_src (a fake evaluation release, meta.txt with CRLF line ends):
  32 train, 16 valid and 8 test clips; valid holds all 8 recordings of fold 1's evaluate
  list, test exactly the evaluation release's, each clip of its labelled class. Rules out
  eval_src ignored (fold 1's evaluate list split into valid and test again, 8 clips each)
  and test recordings drawn from anywhere but the evaluation release."""
  src, freq_to_class, _ = tut
  eval_src = str(tmp_path / "TUT-acoustic-scenes-2016-evaluation")
  eval_freqs = make_tut_eval(eval_src)
  out = str(tmp_path / "out")
  s = packing.pack_dcase2016(src, out, eval_src=eval_src, clip_seconds=CLIP_S,
                             progress=False)
  assert [s["splits"][k]["clips"] for k in data.SPLITS] == [32, 16, 8]
  valid = check_clips_match_recordings(out, "valid", freq_to_class)
  assert len(valid) == 8  # the whole fold-1 evaluate list
  test = check_clips_match_recordings(out, "test", eval_freqs)
  assert test == set(eval_freqs)


def test_dcase2016_split_is_seeded(tut):
  """dcase2016_plan twice with seed 0 gives the same plan, and at least one of seeds 1 .. 5
  another test split (each class's two evaluate locations go one to valid, one to test:
  16 possible splits). Rules out an ignored seed (every seed the same split) and an
  unseeded shuffle (two calls then differ 15 times in 16)."""
  src = tut[0]
  a = packing.dcase2016_plan(src, seed=0)
  b = packing.dcase2016_plan(src, seed=0)
  assert a == b
  others = [packing.dcase2016_plan(src, seed=s)["test"] for s in range(1, 6)]
  assert any(o != a["test"] for o in others)


# ---------------------------------------------------------------------------
# Class folders


def test_pack_folder_mixed_formats(tmp_path):
  """A tree of class folders of recordings in mixed formats, rates and
  channel counts packs into three splits of whole clips, disjoint by
  recording, skipping hidden files and folders and file managers' own
  files (Thumbs.db, desktop.ini, macOS' Icon). Rules out a split by clip instead of recording, a class order
  other than the sorted folder names, and those files read as recordings
  (packing stopped at "not an audio file", naming a file the user's file
  manager hides)."""
  src = str(tmp_path / "src")
  freq_to_class = make_folder_tree(src)
  with open(os.path.join(src, ".DS_Store"), "w") as f:
    f.write("hidden files are skipped")
  with open(os.path.join(src, "rain", ".DS_Store"), "w") as f:
    f.write("inside a class folder too")
  os.makedirs(os.path.join(src, "birds", ".cache"))
  with open(os.path.join(src, "birds", ".cache", "x.wav"), "w") as f:
    f.write("and in hidden folders")
  for name in ("Thumbs.db", "desktop.ini", "Icon\r"):  # Explorer's and Finder's own files
    with open(os.path.join(src, "street", name), "w") as f:
      f.write("hidden where they were written, not recordings")
  out = str(tmp_path / "out")
  s = packing.pack_folder(src, out, clip_seconds=CLIP_S, valid=0.2, test=0.2,
                          progress=False)
  with open(os.path.join(out, "classes.json")) as f:
    assert json.load(f) == ["birds", "rain", "street"]
  seen = {}
  for split in data.SPLITS:
    d = load(out, split)
    assert set(d) == {"wav", "sid", "sample_rate"} and int(d["sample_rate"]) == 16000
    assert d["wav"].dtype == np.float16 and d["sid"].dtype == np.uint8
    assert d["wav"].shape[1] == CLIP
    seen[split] = check_clips_match_recordings(out, split, freq_to_class)
    # Per class: 5 recordings -> 1 valid, 1 test, 3 train; 2 clips each.
    assert s["splits"][split]["per_class"] == [6 if split == "train" else 2] * 3
    assert np.bincount(d["sid"], minlength=3).tolist() == s["splits"][split]["per_class"]
  assert set().union(*seen.values()) == set(freq_to_class)
  assert sum(len(v) for v in seen.values()) == len(freq_to_class)  # disjoint
  assert s["duration_s"] == pytest.approx(15 * 2 * CLIP_S)


def test_folder_split_seeded_and_nonempty(tmp_path):
  """folder_plan of 2 classes of 3 recordings at valid 0.1, test 0.1 (round(0.3) = 0 a
  class): classes a, b; 4 train, 1 valid and 1 test recording; the same plan again for
  seed 0; no recording in two splits; each class in train. Rules out per-class rounding
  left to give empty valid and test (6, 0, 0), a recording in two splits, and an
  unseeded shuffle (two calls then almost always differ)."""
  src = str(tmp_path / "src")
  for c in ("a", "b"):
    os.makedirs(os.path.join(src, c))
    for i in range(3):
      sf.write(os.path.join(src, c, f"{i}.wav"), np.zeros((10, 1)), 8000)
  classes, plan = packing.folder_plan(src, 0.1, 0.1, seed=0)
  assert classes == ["a", "b"]
  # 10 % of 3 rounds to 0 per class, yet valid and test get one recording each.
  assert [len(plan[s]) for s in ("train", "valid", "test")] == [4, 1, 1]
  assert plan == packing.folder_plan(src, 0.1, 0.1, seed=0)[1]
  names = {s: {r.path for r in plan[s]} for s in plan}
  assert not (names["train"] & names["valid"] or names["train"] & names["test"]
              or names["valid"] & names["test"])
  for c in (0, 1):  # every class keeps training recordings
    assert any(r.sid == c for r in plan["train"])


@pytest.mark.parametrize("per_class,valid,test", [(2, 0.4, 0.4), (3, 0.3, 0.4), (4, 0.45, 0.45)])
def test_every_class_keeps_a_training_group(per_class, valid, test):
  """Whatever the fractions, each class keeps at least one group (here a
  recording) for training: with 2 recordings and 40 % + 40 %, rounding would
  give one to valid and one to test. Rules out a split that leaves a class
  with nothing to learn from (its clips only ever evaluated)."""
  recs = [packing.Recording(f"/{c}/{i}.wav", c, f"{c}-{i}")
          for c in range(3) for i in range(per_class)]
  plan = packing.assign_splits(recs, {"valid": valid, "test": test}, "train", seed=0)
  for c in range(3):
    assert any(r.sid == c for r in plan["train"]), (c, plan)
  assert sorted(r.path for s in plan.values() for r in s) == sorted(r.path for r in recs)


def test_a_groups_recordings_always_share_a_split():
  """``assign_splits`` keeps the recordings of a group (a TUT location) in
  one split, for every seed of twenty, with three recordings a group, four
  groups a class: the fake TUT tree of the end-to-end test has one recording
  per evaluate location, so there a split by recording would pass. Rules
  out recordings assigned one by one (segments of one location in valid and
  test: the classifier hears the test location while selected on valid)."""
  recs = [packing.Recording(f"/{c}/{g}-{i}.wav", c, f"{c}-{g}")
          for c in range(3) for g in range(4) for i in range(3)]
  for seed in range(20):
    plan = packing.assign_splits(recs, {"valid": 0.25, "test": 0.25}, "train", seed=seed)
    split_of = {r.path: s for s, rs in plan.items() for r in rs}
    assert len(split_of) == len(recs)
    for group in {r.group for r in recs}:
      assert len({split_of[r.path] for r in recs if r.group == group}) == 1, (seed, group)
    assert all(len(plan[s]) for s in plan)  # each split got groups: not all in one


def test_tut_location_from_the_file_name_when_meta_has_two_columns(tmp_path):
  """A meta.txt of two columns (file, label; no location column)
  takes each recording's location from its file name (``b020_90_120.wav``:
  location ``b020``), so the segments of one location share a split. Rules
  out taking another field of the name (the segment times), which would
  scatter a location's segments over valid and test."""
  root = str(tmp_path)
  with open(os.path.join(root, "meta.txt"), "w") as f:
    f.write("audio/b020_90_120.wav\tbus\naudio/b020_120_150.wav\tbus\n"
            "audio/a011_0_30.wav\tpark\n")
  meta = packing.read_dcase_meta(root)
  assert meta == {"audio/b020_90_120.wav": (0, "b020"), "audio/b020_120_150.wav": (0, "b020"),
                  "audio/a011_0_30.wav": (14, "a011")}


def test_empty_split_is_reported_and_not_written(tmp_path):
  """valid 0.0 leaves valid empty: the summary lists it, format_summary says so, and no
  audio_valid.npz is written; packing again with overwrite and test 0.0 removes the old
  audio_test.npz and says so. Rules out an npz of 0 clips written (load_split refuses it
  as an empty split) and the earlier run's test split left beside the new ones."""
  src = str(tmp_path / "src")
  make_folder_tree(src, classes=("x", "y"), per_class=2)
  out = str(tmp_path / "out")
  s = packing.pack_folder(src, out, clip_seconds=CLIP_S, valid=0.0, test=0.3,
                          progress=False)
  assert s["empty"] == ["valid"]
  assert "split 'valid' is empty" in packing.format_summary(s)
  assert sorted(os.listdir(out)) == ["audio_test.npz", "audio_train.npz", "classes.json"]
  # Overwriting a full set with one that has no test split removes the old test.
  s = packing.pack_folder(src, out, clip_seconds=CLIP_S, valid=0.3, test=0.0,
                          overwrite=True, progress=False)
  assert s["empty"] == ["test"]
  assert "audio_test.npz was not written (the old one was removed)" in packing.format_summary(s)
  assert sorted(os.listdir(out)) == ["audio_train.npz", "audio_valid.npz", "classes.json"]


def test_a_split_missing_a_class_is_reported(tmp_path):
  """Three recordings a class, 10 % each to valid and test: each class
  keeps two for train, so valid and test take one recording from one class
  each. The summary warns of each split that misses a class, naming it;
  train, which holds every class, gets no warning. Rules out a summary whose
  only hint is a 0 in the table (train.py packing a class folder printed no
  summary at all), and a model selected on one class's valid cost unawares."""
  src = str(tmp_path / "src")
  make_folder_tree(src, classes=("x", "y"), per_class=3)
  s = packing.pack_folder(src, str(tmp_path / "out"), clip_seconds=CLIP_S, progress=False)
  per = {k: s["splits"][k]["per_class"] for k in ("train", "valid", "test")}
  assert all(per["train"]) and [k.count(0) for k in (per["valid"], per["test"])] == [1, 1]
  text = packing.format_summary(s)
  for k in ("valid", "test"):
    missing = "x" if per[k][0] == 0 else "y"
    assert f"WARNING: split {k!r} holds no clip of {missing} (too few recordings" in text
  assert "split 'train' holds" not in text


def test_pack_folder_script_refuses_existing_output(tmp_path):
  """scripts/pack_folder.py into a folder already holding audio_train.npz, without
  --overwrite: a non-zero exit, stderr "already holds audio_train.npz" and "pass
  --overwrite", the file unchanged and nothing added to the folder. Rules out existing
  splits replaced unasked, and staged or temporary files or classes.json written before
  the refusal."""
  src = str(tmp_path / "src")
  make_folder_tree(src, classes=("x", "y"), per_class=2)
  out = tmp_path / "out"
  out.mkdir()
  (out / "audio_train.npz").write_bytes(b"precious")
  r = subprocess.run([sys.executable, "scripts/pack_folder.py", "--src", src, "--out",
                      str(out), "--clip_seconds", str(CLIP_S)],
                     cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert r.returncode != 0
  assert "already holds audio_train.npz" in r.stderr and "pass --overwrite" in r.stderr
  assert (out / "audio_train.npz").read_bytes() == b"precious"
  assert os.listdir(out) == ["audio_train.npz"]


# ---------------------------------------------------------------------------
# Bad inputs: a clear error naming the file, existing outputs untouched.


def _bad_unknown_label(root):
  src = os.path.join(root, "tut")
  make_tut(src)
  with open(os.path.join(src, "meta.txt"), "a") as f:
    f.write("audio/z000_0_30.wav\tspaceship\tz000\n")
  return "dcase", src, [os.path.join(src, "meta.txt"), "unknown scene label 'spaceship'"]


def _bad_label_mismatch(root):
  src = os.path.join(root, "tut")
  make_tut(src)
  p = os.path.join(src, "evaluation_setup", "fold1_evaluate.txt")
  with open(p) as f:
    text = f.read()
  with open(p, "w") as f:
    f.write(text.replace("\tbus", "\ttram", 1))
  return "dcase", src, [p, "labelled 'tram' but meta.txt says 'bus'"]


def _bad_recording_in_two_splits(root):
  src = os.path.join(root, "tut")
  make_tut(src)
  es = os.path.join(src, "evaluation_setup")
  with open(os.path.join(es, "fold1_train.txt")) as f:
    first = f.readline()
  with open(os.path.join(es, "fold1_evaluate.txt"), "a") as f:
    f.write(first)
  name = first.split("\t")[0]
  return "dcase", src, [os.path.join(src, name), "exactly one split"]


def _bad_missing_fold_file(root):
  src = os.path.join(root, "tut")
  make_tut(src)
  p = os.path.join(src, "evaluation_setup", "fold1_train.txt")
  os.remove(p)
  return "dcase", src, [p, "no such file"]


def _bad_short_tut_recording(root):
  src = os.path.join(root, "tut")
  make_tut(src)
  with open(os.path.join(src, "evaluation_setup", "fold1_evaluate.txt")) as f:
    name = f.read().splitlines()[-1].split("\t")[0]
  p = os.path.join(src, name)
  sf.write(p, tone(440, 0.4, 44100, 2), 44100)  # evaluated after train is done
  return "dcase", src, [p, "shorter than one clip"]


def _bad_non_audio(root):
  src = os.path.join(root, "src")
  make_folder_tree(src, per_class=2)
  p = os.path.join(src, "street", "notes.txt")
  with open(p, "w") as f:
    f.write("not audio")
  return "folder", src, [p, "not an audio file"]


def _bad_empty_class(root):
  src = os.path.join(root, "src")
  make_folder_tree(src, per_class=2)
  p = os.path.join(src, "wind")
  os.makedirs(p)
  return "folder", src, [p, "empty class folder"]


def _bad_short_recording(root):
  src = os.path.join(root, "src")
  make_folder_tree(src, per_class=2)
  p = os.path.join(src, "street", "short.flac")
  sf.write(p, tone(440, 0.3, 22050), 22050)
  return "folder", src, [p, "shorter than one clip"]


def _bad_beyond_float16(root):
  # a float recording past float16's +-65504 was written to the npz as Inf
  # and refused only when training read it (naming the npz, not the file)
  src = os.path.join(root, "src")
  make_folder_tree(src, per_class=2)
  p = os.path.join(src, "street", "loud.wav")
  sf.write(p, tone(440, 2.0, 22050) * 1e6, 22050, subtype="FLOAT")  # peak 3e5
  return "folder", src, [p, "beyond what the packed splits' float16 holds"]


def _bad_nan_samples(root):
  # a float recording with one NaN sample was packed as it came
  src = os.path.join(root, "src")
  make_folder_tree(src, per_class=2)
  p = os.path.join(src, "street", "nan.wav")
  x = tone(440, 2.0, SR)
  x[SR // 3] = np.nan
  sf.write(p, x, SR, subtype="FLOAT")
  return "folder", src, [p, "holds NaN or Inf samples"]


def _bad_missing_src(root):
  p = os.path.join(root, "nowhere")
  return "folder", p, [f"src {p}: no such folder"]


def _bad_missing_tut_src(root):
  p = os.path.join(root, "nowhere")
  return "dcase", p, [f"src {p}: no such folder"]


@pytest.mark.parametrize("make_bad", [
    _bad_unknown_label, _bad_label_mismatch, _bad_recording_in_two_splits,
    _bad_missing_fold_file, _bad_short_tut_recording, _bad_non_audio,
    _bad_empty_class, _bad_short_recording, _bad_beyond_float16, _bad_nan_samples,
    _bad_missing_src, _bad_missing_tut_src])
def test_bad_input_clear_error_outputs_untouched(make_bad, tmp_path):
  """Over the out folder of a good earlier packing, with overwrite=True, each bad input
  (unknown or mismatched TUT label, a recording in two splits, a missing fold list, a
  recording shorter than a clip, a non-audio file, an empty class folder, samples past
  float16, a NaN sample, a missing src) is a DataError naming the file and fault, and out keeps every
  file's bytes and mtime. Rules out outputs replaced before every input is checked (the
  short TUT recording is listed last), and staged or temporary files left in out."""
  # Existing outputs of a good earlier run.
  good = str(tmp_path / "good")
  make_folder_tree(good, classes=("p", "q"), per_class=3)
  out = str(tmp_path / "out")
  packing.pack_folder(good, out, clip_seconds=CLIP_S, progress=False)
  before = snapshot(out)
  kind, src, expected = make_bad(str(tmp_path))
  # With overwrite, so that only the input check can stop the run.
  with pytest.raises(DataError) as e:
    if kind == "dcase":
      packing.pack_dcase2016(src, out, clip_seconds=CLIP_S, overwrite=True,
                             progress=False)
    else:
      packing.pack_folder(src, out, clip_seconds=CLIP_S, overwrite=True,
                          progress=False)
  for part in expected:
    assert part in str(e.value)
  assert snapshot(out) == before


def test_the_summary_says_what_the_clips_leave_out_and_which_are_silent(tmp_path):
  """Recordings of 1.1 s cut into 0.5 s clips (0.1 s of each unused) and
  one digitally silent recording: the summary gives the seconds recorded and
  a line saying how much of them no clip holds, and warns of the silent
  clips, by split. Rules out the silent drop of each recording's end (22 %
  of a user's 9-17 s recordings at 8 s clips, said nowhere) and silence
  packed as training data without a word."""
  src = str(tmp_path / "src")
  make_folder_tree(src, per_class=5)
  sf.write(os.path.join(src, "rain", "zz_silence.wav"), np.zeros(int(1.1 * SR)), SR)
  s = packing.pack_folder(src, str(tmp_path / "out"), clip_seconds=CLIP_S, progress=False)
  assert s["recorded_s"] == pytest.approx(16 * 1.1, rel=1e-4)
  assert s["duration_s"] == pytest.approx(16 * 2 * CLIP_S)
  text = packing.format_summary(s)
  assert "not used: 2 s of the 18 s recorded (9 %), the end of each recording" in text, text
  where = next(sp for sp in data.SPLITS if s["splits"][sp]["constant"])
  assert s["splits"][where]["constant"] == 2
  assert sum(s["splits"][sp]["constant"] for sp in data.SPLITS) == 2
  assert (f"WARNING: clips of one constant value (silence) in {where} 2: they teach the "
          "model that silence lasts") in text, text


def test_every_recording_shorter_than_a_clip_is_named_at_once(tmp_path):
  """Two recordings shorter than one clip: one DataError naming both, with
  their lengths, before anything is written. Rules out a refusal of the
  first only, which sends the user round once per short file."""
  src = str(tmp_path / "src")
  make_folder_tree(src, per_class=3)
  for name, seconds in (("birds/a.wav", 0.2), ("rain/b.wav", 0.3)):
    sf.write(os.path.join(src, name), tone(440, seconds, SR), SR)
  with pytest.raises(DataError, match=r"^2 recording\(s\) shorter than one clip \(0.5 s = "
                     r"8000 samples at 16000 Hz\): .*a\.wav \(0\.200 s\), .*b\.wav \(0\.300 s\); "
                     "remove them"):
    packing.pack_folder(src, str(tmp_path / "out"), clip_seconds=CLIP_S, progress=False)
  assert not os.path.exists(tmp_path / "out")


def test_a_long_list_of_short_recordings_names_five_and_counts_the_rest(tmp_path):
  """Seven recordings shorter than a clip: the refusal names the first five
  and says "and 2 more"; a file of no frames at all is named as such. Rules
  out a refusal that lists thousands of paths, or names five and hides that
  there are more, and an empty file taken for a short one."""
  src = str(tmp_path / "src")
  make_folder_tree(src, per_class=3)
  for k in range(7):
    sf.write(os.path.join(src, "rain", f"short{k}.wav"), tone(440, 0.1, SR), SR)
  with pytest.raises(DataError) as e:
    packing.pack_folder(src, str(tmp_path / "out"), clip_seconds=CLIP_S, progress=False)
  assert str(e.value).startswith("7 recording(s) shorter than one clip")
  assert sum(f"short{k}.wav" in str(e.value) for k in range(7)) == 5
  assert " and 2 more; remove them" in str(e.value)
  empty = os.path.join(str(tmp_path), "empty.wav")
  sf.write(empty, np.zeros(0), SR)
  with pytest.raises(DataError, match=r"empty\.wav: holds no audio frames"):
    packing.probe(empty, SR, CLIP)


def test_recordings_in_two_splits_are_named_by_file_and_by_location():
  """``check_disjoint``: a recording listed twice in one split, or in two,
  is a DataError saying which; ``shared_groups``: a location (group) with
  recordings in two splits is reported once per pair (here two of its
  recordings in valid), none for disjoint splits. Rules out the location
  warning of pack_dcase2016 never firing (a comparison turned round), one
  warning per recording instead of per location, and one message for both
  kinds of repeat."""
  rec = lambda name, group: packing.Recording(f"/src/{name}.wav", 0, group)
  with pytest.raises(DataError, match=r"^/src/a.wav: listed twice in split train; every"):
    packing.check_disjoint({"train": [rec("a", "x"), rec("a", "x")]})
  with pytest.raises(DataError, match=r"^/src/a.wav: listed in splits 'train' and 'valid'"):
    packing.check_disjoint({"train": [rec("a", "x")], "valid": [rec("a", "x")]})
  plan = {"train": [rec("a", "x"), rec("b", "y")], "valid": [rec("c", "x"), rec("e", "x")],
          "test": [rec("d", "z")]}
  assert packing.shared_groups(plan) == [("x", "train", "valid")]
  assert packing.shared_groups({"train": [rec("a", "x")], "valid": [rec("c", "y")]}) == []


def test_a_split_of_fraction_zero_stays_empty():
  """``assign_splits`` with valid 0: no recording goes to valid, even when
  the rule that fills an empty split could give it one; test (0.2) still
  gets one per class of five. Rules out --valid 0 ignored by the filling
  rule (a recording taken from training for a split nobody asked for)."""
  recs = [packing.Recording(f"/{c}/{i}.wav", c, f"{c}-{i}") for c in range(2) for i in range(5)]
  parts = packing.assign_splits(recs, {"valid": 0.0, "test": 0.2}, "train", seed=0)
  assert parts["valid"] == [] and len(parts["test"]) == 2 and len(parts["train"]) == 8


def test_fractions_that_leave_no_training_split_are_refused(tmp_path):
  """``folder_plan`` with valid + test of 1 or more, or a negative fraction:
  a DataError naming them, before anything is read; 0.5 + 0.4 plans. Rules
  out a plan whose train split is empty (every recording in valid and
  test), found only when training refuses the missing audio_train.npz, and
  a negative fraction taken (round(-0.2 * n) groups: none, silently)."""
  src = str(tmp_path / "src")
  make_folder_tree(src, per_class=3)
  for valid, test in ((-0.2, 0.2), (0.2, -0.2)):
    bad = "valid" if valid < 0 else "test"
    with pytest.raises(DataError, match=rf"^{bad}=-0.2: expected a fraction in \[0, 1\)"):
      packing.folder_plan(src, valid, test)
  with pytest.raises(DataError, match=r"^valid=0.5 \+ test=0.5 >= 1 leaves nothing to train on"):
    packing.folder_plan(src, 0.5, 0.5)
  classes, plan = packing.folder_plan(src, 0.5, 0.4)
  assert plan["train"] and len(classes) == 3


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan"), float("inf")])
def test_clip_seconds_must_be_a_positive_finite_length(seconds):
  """--clip_seconds nan or inf is refused naming it. Rules out inf's
  OverflowError traceback and nan's "cannot convert float NaN to integer",
  which named no setting."""
  with pytest.raises(DataError, match=rf"^clip_seconds={seconds}: expected a positive, finite"):
    packing.clip_length(seconds, 16000)


def test_overwrite_replaces_outputs(tmp_path):
  """Packing again into a packed folder at 0.25 s clips is refused ("pass --overwrite"),
  leaving the 8000-sample clips; with overwrite=True the train split then holds
  4000-sample clips. Rules out overwrite ignored (the old splits kept, or refused anyway)
  and a refusal that comes after the old splits were replaced."""
  src = str(tmp_path / "src")
  make_folder_tree(src, classes=("x", "y"), per_class=3)
  out = str(tmp_path / "out")
  packing.pack_folder(src, out, clip_seconds=CLIP_S, progress=False)
  with pytest.raises(DataError, match="pass --overwrite"):
    packing.pack_folder(src, out, clip_seconds=0.25, progress=False)
  assert load(out, "train")["wav"].shape[1] == CLIP
  packing.pack_folder(src, out, clip_seconds=0.25, overwrite=True, progress=False)
  assert load(out, "train")["wav"].shape[1] == CLIP // 2


# ---------------------------------------------------------------------------
# Interrupted runs


def pack_interrupted_in_valid(src, out, monkeypatch, overwrite=False):
  """``pack_folder(src, out)`` (valid 0.2, test 0.2) stopped by a
  KeyboardInterrupt when it reads the first valid recording, after train is
  staged; ``load_clips`` is restored after. Returns the split plan."""
  _, plan = packing.folder_plan(src, 0.2, 0.2, 0)
  valid_files = {r.path for r in plan["valid"]}
  real_load = packing.load_clips

  def interrupted(path, *a, **k):
    if path in valid_files:
      raise KeyboardInterrupt  # stop while writing the valid split
    return real_load(path, *a, **k)

  monkeypatch.setattr(packing, "load_clips", interrupted)
  with pytest.raises(KeyboardInterrupt):
    packing.pack_folder(src, out, clip_seconds=CLIP_S, valid=0.2, test=0.2, progress=False,
                        overwrite=overwrite)
  monkeypatch.setattr(packing, "load_clips", real_load)
  return plan


def test_interrupted_run_resumes(tmp_path, monkeypatch):
  """A run interrupted in the valid split, run again: train (staged) is not
  read again, and the outputs and the summary's counts of silent clips equal
  an unbroken run's (rules out a staged split counted as holding none)."""
  src = str(tmp_path / "src")
  make_folder_tree(src)
  for k in range(3):  # silent recordings: some land in train, which is staged
    sf.write(os.path.join(src, "rain", f"zz_silence{k}.wav"), np.zeros(int(1.1 * SR)), SR)
  ref = str(tmp_path / "ref")
  s_ref = packing.pack_folder(src, ref, clip_seconds=CLIP_S, valid=0.2, test=0.2,
                              progress=False)
  assert s_ref["splits"]["train"]["constant"] > 0
  out = str(tmp_path / "out")
  plan = pack_interrupted_in_valid(src, out, monkeypatch)
  valid_files = {r.path for r in plan["valid"]}
  real_load, loaded = packing.load_clips, []
  left = os.listdir(out)
  assert not [n for n in left if n.endswith(".npz") or n.endswith(".writing")]
  assert len([n for n in left if n.endswith(".staged")]) == 1  # train is done
  # The same command again (no --overwrite): train is not read again.
  monkeypatch.setattr(packing, "load_clips", lambda p, *a, **k: (loaded.append(p), real_load(p, *a, **k))[1])
  s = packing.pack_folder(src, out, clip_seconds=CLIP_S, valid=0.2, test=0.2, progress=False)
  assert set(loaded) == valid_files | {r.path for r in plan["test"]}
  assert ({sp: s["splits"][sp]["constant"] for sp in data.SPLITS}
          == {sp: s_ref["splits"][sp]["constant"] for sp in data.SPLITS})
  assert sorted(os.listdir(out)) == sorted(os.listdir(ref))
  for split in data.SPLITS:
    a, b = load(out, split), load(ref, split)
    np.testing.assert_array_equal(a["wav"], b["wav"])
    np.testing.assert_array_equal(a["sid"], b["sid"])


def test_a_recording_changed_after_an_interruption_is_read_again(tmp_path, monkeypatch):
  """A run interrupted after staging train, then a training recording
  rewritten in place (same length and format, so the same size; another
  tone), then the same command: the staged train split is not reused, the
  packed train holds the new tone. Rules out a job signature blind to a
  file's modification time, which would finish the run with stale clips."""
  src = str(tmp_path / "src")
  make_folder_tree(src)
  out = str(tmp_path / "out")
  plan = pack_interrupted_in_valid(src, out, monkeypatch)
  changed = plan["train"][0].path
  info = sf.info(changed)
  size = os.path.getsize(changed)
  sf.write(changed, tone(3100, info.frames / info.samplerate, info.samplerate, info.channels),
           info.samplerate, subtype=info.subtype)
  assert os.path.getsize(changed) == size
  packing.pack_folder(src, out, clip_seconds=CLIP_S, valid=0.2, test=0.2, progress=False)
  peaks = [peak_hz(c) for c in load(out, "train")["wav"]]
  assert any(abs(p - 3100) <= 4 for p in peaks)


def test_an_interrupted_overwrite_finishes_without_the_flag(tmp_path, monkeypatch):
  """Over a packed folder (0.25 s clips), a run with overwrite=True at 0.5 s
  interrupted after staging train, then the same command without it: it
  finishes (that job already passed the check; every split now 0.5 s),
  while another job there without overwrite is still refused. Rules out a
  resumed job refused for the outputs its own first run was allowed to
  replace (the user told to pass --overwrite again), and a resume that
  waives the check for any job."""
  src = str(tmp_path / "src")
  make_folder_tree(src)
  out = str(tmp_path / "out")
  packing.pack_folder(src, out, clip_seconds=CLIP_S / 2, valid=0.2, test=0.2, progress=False)
  pack_interrupted_in_valid(src, out, monkeypatch, overwrite=True)
  with pytest.raises(DataError, match="pass --overwrite"):  # another job: refused
    packing.pack_folder(src, out, clip_seconds=CLIP_S / 4, valid=0.2, test=0.2,
                        progress=False)
  packing.pack_folder(src, out, clip_seconds=CLIP_S, valid=0.2, test=0.2, progress=False)
  assert {split: load(out, split)["wav"].shape[1] for split in data.SPLITS} == {
      split: CLIP for split in data.SPLITS}


def test_a_rerun_with_another_clip_length_packs_afresh(tmp_path, monkeypatch):
  """A run interrupted after staging train, then the command again with
  clip_seconds 0.25 instead of 0.5: every split, train too, holds clips of
  0.25 s (4 000 samples). Rules out a job signature blind to the clip
  length, which would put the staged 0.5 s train split beside 0.25 s valid
  and test splits."""
  src = str(tmp_path / "src")
  make_folder_tree(src)
  out = str(tmp_path / "out")
  pack_interrupted_in_valid(src, out, monkeypatch)
  packing.pack_folder(src, out, clip_seconds=CLIP_S / 2, valid=0.2, test=0.2, progress=False)
  assert {split: load(out, split)["wav"].shape[1] for split in data.SPLITS} == {
      split: CLIP // 2 for split in data.SPLITS}


def test_pack_dcase2016_fold_flag_takes_that_folds_lists(tut, tmp_path):
  """--fold 2 packs from fold2_train.txt and fold2_evaluate.txt. Fold 2 of
  this fake release swaps fold 1's roles, so its train split holds exactly
  the recordings of fold 1's evaluate list (each recording a tone of its own
  frequency) and its valid and test splits those of fold 1's train list;
  --fold 5 is refused. Rules out a flag that is parsed but not passed on
  (fold 1 packed whatever is asked) and an unchecked fold number."""
  import shutil
  src, freq_to_class, loc_of = tut
  src2 = str(tmp_path / "TUT-acoustic-scenes-2016-development")
  shutil.copytree(src, src2)
  es = os.path.join(src2, "evaluation_setup")
  with open(os.path.join(es, "fold1_train.txt")) as f:
    train1 = f.read()
  with open(os.path.join(es, "fold1_evaluate.txt")) as f:
    evaluate1 = f.read()
  with open(os.path.join(es, "fold2_train.txt"), "w") as f:
    f.write(evaluate1)
  with open(os.path.join(es, "fold2_evaluate.txt"), "w") as f:
    f.write(train1)
  out = str(tmp_path / "fold2")
  r = subprocess.run([sys.executable, "scripts/pack_dcase2016.py", "--src", src2, "--out", out,
                      "--clip_seconds", str(CLIP_S), "--fold", "2", "--no_progress"],
                     cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120)
  assert r.returncode == 0, r.stderr
  evaluate_locs = {loc_of[f] for f in freq_to_class if loc_of[f][1:] in ("002", "003")}
  train_locs = {loc_of[f] for f in freq_to_class} - evaluate_locs
  locs = {s: {loc_of[f] for f in check_clips_match_recordings(out, s, freq_to_class)}
          for s in data.SPLITS}
  assert locs["train"] == evaluate_locs
  assert locs["valid"] | locs["test"] == train_locs
  with pytest.raises(DataError, match="^fold=5: expected 1, 2, 3 or 4"):
    packing.dcase2016_plan(src2, fold=5)


# ---------------------------------------------------------------------------
# scripts/make_default_data.py (data/default from 0 A.D.'s audio)

MAKE_DEFAULT = os.path.join(REPO, "scripts", "make_default_data.py")


def default_data_sources() -> dict:
  """The script's CLASSES (class -> source files), read with ast: importing
  the script would define its absl flags in this process."""
  import ast
  tree = ast.parse(open(MAKE_DEFAULT).read())
  value = next(n.value for n in tree.body if isinstance(n, ast.Assign)
               and getattr(n.targets[0], "id", "") == "CLASSES")
  return ast.literal_eval(value)


def test_make_default_data_replaces_out_only_when_every_source_was_made(tmp_path):
  """A zip lacking sources: exit 2, one error line naming what it lacks,
  and the existing --out (even with --overwrite) untouched; a zip with
  every source (one-second stand-ins): --out replaced by the five class
  folders, with neither the staged nor the earlier folder left beside it.
  Rules out deleting the earlier data before reading any source, which
  left a partial folder and a KeyError traceback, and a replacement that
  leaves the earlier data (moved aside) behind; and an --out that is the
  root, the working directory, the checkout or a folder above them refused
  at once (with --overwrite an absolute path above the working directory
  was renamed and removed; the root failed only after every source was
  converted, naming a path of '')."""
  classes = {"CLASSES": default_data_sources()}
  rels = [r for files in classes["CLASSES"].values() for r in files]
  out = tmp_path / "default"
  out.mkdir()
  (out / "keep.txt").write_text("earlier data")

  def zip_of(names):
    path = tmp_path / f"public{len(names)}.zip"
    with zipfile.ZipFile(path, "w") as z:
      for i, rel in enumerate(names):
        buf = io.BytesIO()
        sf.write(buf, 0.1 * np.sin(np.arange(16000) * (i + 1) / 50.0), 16000, format="OGG")
        z.writestr("audio/ambient/" + rel, buf.getvalue())
    return str(path)

  def run(src):
    return subprocess.run([sys.executable, MAKE_DEFAULT, "--src", src, "--out", str(out),
                           "--overwrite"], cwd=REPO, env=subprocess_env(), capture_output=True,
                          text=True, timeout=300)

  proc = run(zip_of(rels[:1]))
  assert proc.returncode == 2, proc.stderr[-3000:]
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1 and f"lacks {len(rels) - 1} of the sources" in errors[0], errors
  assert "Traceback" not in proc.stderr
  assert sorted(os.listdir(tmp_path)) == ["default", "public1.zip"]  # no staging left
  assert (out / "keep.txt").read_text() == "earlier data"

  proc = run(zip_of(rels))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert sorted(os.listdir(out)) == sorted(classes["CLASSES"])
  assert sorted(os.listdir(tmp_path)) == ["default", "public1.zip", f"public{len(rels)}.zip"]
  assert len(os.listdir(out / "rain")) == len(classes["CLASSES"]["rain"])
  # no folder of its own: refused before the sources are read (the working
  # directory is out/rain: out itself, however written, holds it)
  for where in ("/", ".", "../..", str(out), REPO):
    proc = subprocess.run([sys.executable, MAKE_DEFAULT, "--src", "none.zip", "--out", where,
                           "--overwrite"], cwd=out / "rain", env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stderr.startswith(
        f"error: --out {where!r}: expected a folder of its own"), proc.stderr[-3000:]


def test_a_split_packed_at_another_rate_than_the_configs_is_refused(tmp_path):
  """Splits packed at 8 kHz record it (key ``sample_rate``); opening them
  for a config at 16 kHz is a DataError naming the file and both rates,
  before training (and before evaluate.py's features, at 16 kHz); for an
  8 kHz config they open. A rate below 1000 Hz is
  refused when packing. Rules out training 8 kHz clips as 16 kHz ones (the
  wrong speed, and nothing said so), and silently packing a mistyped rate
  (--sample_rate 7 gave clips of 56 samples)."""
  src, out = str(tmp_path / "src"), str(tmp_path / "out")
  make_folder_tree(src, per_class=3)
  packing.pack_folder(src, out, clip_seconds=CLIP_S, sample_rate=8000, valid=0.34,
                      test=0.34, progress=False)
  with pytest.raises(DataError, match=r"audio_train.npz: packed at 8000 Hz, but 16000 Hz is "
                     r"asked for \(config.sample_rate\); pack the recordings again at 16000 "
                     r"Hz \(pack_folder.py --sample_rate=16000\), or set config.sample_rate=8000$"):
    data.open_dataset(out, sample_rate=16000)
  from samplernn_jax.evaluation import run as eval_run  # evaluate.py reads at 16 kHz too
  # ...and cannot be set to another rate: the refusal does not say it can
  with pytest.raises(DataError, match=r"packed at 8000 Hz, but 16000 Hz is asked for \(the "
                     r"evaluation's classifier hears 16000 Hz; .*\)$") as e:
    eval_run.evaluate(out, str(tmp_path), out_dir=str(tmp_path / "eval"))
  assert "config.sample_rate" not in str(e.value)
  dataset = data.open_dataset(out, sample_rate=8000)
  assert dataset.train.sample_rate == 8000 and dataset.train.clip_len == int(8000 * CLIP_S)
  assert data.open_dataset(out).train.num_clips == dataset.train.num_clips  # no rate asked
  with pytest.raises(DataError, match=r"sample_rate=7: expected a rate in Hz of at least 1000"):
    packing.pack_folder(src, str(tmp_path / "slow"), clip_seconds=CLIP_S, sample_rate=7,
                        progress=False)
  assert not os.path.exists(tmp_path / "slow")


def test_an_out_folder_the_next_packing_would_read_is_refused(tmp_path):
  """pack_folder with --out equal to --src, or inside one of its class
  folders: a DataError before anything is written; inside a hidden folder
  of src (train.py's .packed) or beside src it packs. Rules out npz files
  written among the recordings (the next packing failed on
  'audio_test.npz: not an audio file') or at src's top (where data_dir=src
  silently became the npz splits instead of the class folders)."""
  src = str(tmp_path / "src")
  make_folder_tree(src, per_class=3)
  before = sorted(os.listdir(src))
  for out in (src, os.path.join(src, "rain"), os.path.join(src, "new", "deeper")):
    with pytest.raises(DataError, match=r"^out .*: inside src .*; give a folder outside it"):
      packing.pack_folder(src, out, clip_seconds=CLIP_S, valid=0.34, test=0.34, progress=False)
  assert sorted(os.listdir(src)) == before and "audio_train.npz" not in os.listdir(
      os.path.join(src, "rain"))
  for out in (os.path.join(src, ".hidden"), str(tmp_path / "beside")):
    packing.pack_folder(src, out, clip_seconds=CLIP_S, valid=0.34, test=0.34, progress=False)
    assert os.path.isfile(os.path.join(out, "audio_train.npz"))
