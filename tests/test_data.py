"""Data (splits.py, batches.py, datasets.py, through data.py): validated loading,
memory-mapping, TBPTT batches, dither, class folders packed on demand.

Clips are identified through ``sid``: tests that follow clips give clip i the
class i, so a batch's ``sid`` names the clips it holds.
"""
import re

import numpy as np
import pytest

from samplernn_jax import data, quantize
from samplernn_jax.data import DataError

Q_ZERO = 128


def numbered_split(n=10, t=200, seed=0):
  """An in-memory split of n random clips of t samples; clip i has class i."""
  wav = np.random.default_rng(seed).standard_normal((n, t)).astype(np.float16)
  return data.Split("<test>", wav, np.arange(n, dtype=np.int32))


def batches(split, batch_size=4, seq_len=64, frame_size=16, seed=0, **kw):
  return data.TrainBatches(split, batch_size, seq_len, frame_size, "linear", 256, seed, **kw)


# ---------------------------------------------------------------------------
# load_split: every problem is named, with the file


def good_arrays(n=3, t=100):
  return np.zeros((n, t), np.float16) + np.linspace(-1, 1, t, dtype=np.float16), \
      np.arange(n, dtype=np.uint8)


BAD = {
    # name: (wav, sid, load_split kwargs, regex the message must match)
    "wav_int": (np.zeros((3, 100), np.int16), np.arange(3, dtype=np.uint8), {},
                r"'wav' has dtype int16; expected a float"),
    "wav_1d": (np.zeros(100, np.float16), np.arange(1, dtype=np.uint8), {},
               r"'wav' has shape \(100,\); expected 2-D"),
    "wav_3d": (np.zeros((3, 100, 2), np.float16), np.arange(3, dtype=np.uint8), {},
               r"'wav' has shape \(3, 100, 2\); expected 2-D"),
    "sid_too_big": (good_arrays()[0], np.array([0, 1, 5], np.uint8), {"n_classes": 4},
                    r"'sid' holds class 5; expected 0 \.\. 3 \(config.n_classes=4\)"),
    "sid_at_n_classes": (good_arrays()[0], np.array([0, 1, 4], np.uint8), {"n_classes": 4},
                         r"'sid' holds class 4; expected 0 \.\. 3 \(config.n_classes=4\)"),
    "sid_negative": (good_arrays()[0], np.array([0, -1, 2], np.int8), {},
                     r"'sid' holds class -1"),
    "sid_float": (good_arrays()[0], np.array([0.0, 1.0, 2.0]), {},
                  r"'sid' has dtype float64; expected integers"),
    "sid_wav_mismatch": (good_arrays()[0], np.arange(2, dtype=np.uint8), {},
                         r"'sid' has 2 entries but 'wav' has 3 clips"),
    "too_short": (good_arrays()[0], good_arrays()[1], {"min_len": 1040},
                  r"clips hold 100 samples; expected at least 1040"),
    "empty": (np.zeros((0, 100), np.float16), np.zeros(0, np.uint8), {},
              r"empty split"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_load_split_names_file_and_problem(tmp_path, npz_writer, case):
  """Each malformed file of BAD (int16 wav, 1-D or 3-D wav, a class past n_classes and one
  equal to it, a negative class, float sids, sid and wav of different lengths, clips
  shorter than min_len, no clips) raises DataError whose message starts with the file's
  path and names the fault (BAD's regex). Rules out a numpy error (IndexError,
  ValueError) in place of DataError, a message without the file, no check for negative
  or float sids, and a class check of sid > n_classes (class n_classes let through)."""
  wav, sid, kwargs, pattern = BAD[case]
  path = npz_writer(tmp_path, "train", wav, sid)
  with pytest.raises(DataError, match=pattern) as err:
    data.load_split(path, **kwargs)
  assert str(err.value).startswith(path + ":")


def test_a_split_built_in_code_is_checked_as_a_loaded_one():
  """TrainBatches refuses an in-memory Split whose class is not below its
  ``n_classes``, or negative without one, naming the split and the class.
  Rules out training such clips silently as no class at all (one_hot of an
  out-of-range index is the zero vector that marks a clip trained without
  its class)."""
  with pytest.raises(DataError, match=r"^<test>: key 'sid' holds class 4; expected 0 \.\. 3"):
    batches(numbered_split(), n_classes=4)
  split = numbered_split()
  split.sid[3] = -1
  with pytest.raises(DataError, match=r"^<test>: key 'sid' holds class -1"):
    batches(split)
  assert batches(numbered_split(), n_classes=10).steps_per_epoch > 0


def test_a_class_count_refusal_names_where_the_count_came_from(tmp_path, npz_writer):
  """open_dataset's refusals of a class count name the setting it came from
  (evaluate.py's n_classes, a checkpoint's), config.n_classes by default.
  Rules out 'config.n_classes=2' told to a user of evaluate.py, which has no
  config."""
  with pytest.raises(DataError, match=r"^n_classes=3, but the synthetic data has 4"):
    data.open_dataset("synthetic", 3, n_classes_setting="n_classes")
  wav, sid = good_arrays()
  npz_writer(tmp_path, "train", wav, sid)
  with pytest.raises(DataError, match=r"holds class 2; expected 0 \.\. 1 \(n_classes=2\)"):
    data.open_dataset(str(tmp_path), 2, n_classes_setting="n_classes")
  with pytest.raises(DataError, match=r"\(config.n_classes=2\)"):
    data.open_dataset(str(tmp_path), 2)


def test_load_split_missing_file(tmp_path):
  """A path with no file is a DataError saying "no such file" and naming the path. Rules out
  leaving it to np.load, whose FileNotFoundError the catch-all reports as "cannot read as
  an npz", which hides that the file is simply absent (the message starts with the path
  and "no such file", matched whole: the OS's own "No such file" differs only in case)."""
  path = str(tmp_path / "audio_train.npz")
  with pytest.raises(DataError, match=rf"^{re.escape(path)}: no such file \(expected"):
    data.load_split(path)


@pytest.mark.parametrize("missing", ["wav", "sid"])
def test_load_split_missing_key(tmp_path, missing):
  """An npz lacking 'wav' (or 'sid') but holding 'other' is a DataError "missing key 'wav'"
  that names the file and lists the keys found. Rules out numpy's KeyError reported by the
  catch-all ("cannot read as an npz", without "missing key") and a message that does not
  say what the file holds."""
  wav, sid = good_arrays()
  path = str(tmp_path / "audio_train.npz")
  np.savez(path, **{k: v for k, v in (("wav", wav), ("sid", sid)) if k != missing},
           other=np.zeros(2))
  with pytest.raises(DataError, match=rf"missing key '{missing}'") as err:
    data.load_split(path)
  assert path in str(err.value) and "other" in str(err.value)  # says what it found


def test_load_split_not_an_npz(tmp_path):
  """A file of text bytes named audio_train.npz is a DataError "cannot read as an npz" naming
  the path. Rules out np.load's own ValueError (pickled data refused) escaping unwrapped,
  with no file named."""
  path = tmp_path / "audio_train.npz"
  path.write_bytes(b"this is not a zip file")
  with pytest.raises(DataError, match="cannot read as an npz") as err:
    data.load_split(str(path))
  assert str(path) in str(err.value)


def test_good_file_loads_with_limits(tmp_path, npz_writer):
  """A valid file of 3 clips of 100 samples, classes 0 .. 2 (uint8), loads with n_classes=3
  and min_len=100, both at their bounds, and its sid comes back int32. Rules out off-by-one
  limits (a class check of sid >= n_classes - 1, a length check of <= min_len) and sid left
  in the file's uint8."""
  wav, sid = good_arrays()
  split = data.load_split(npz_writer(tmp_path, "train", wav, sid), n_classes=3, min_len=100)
  assert (split.num_clips, split.clip_len) == (3, 100)
  assert split.sid.dtype == np.int32


# ---------------------------------------------------------------------------
# memory-mapping


def test_savez_is_memory_mapped(tmp_path, npz_writer):
  """An uncompressed npz (np.savez) gives a wav that is an np.memmap of float16 [5, 300] with
  exactly the saved samples, and the saved sid, also when 'sid' is stored before 'wav'.
  Rules out wav read whole into memory, and a memmap at the wrong offset (not past the
  zip local header's name and extra fields and the npy header, or counted from the
  file's start instead of wav's own local header: the same while wav is stored first)
  or of the wrong dtype, which would give other values."""
  wav = np.random.default_rng(0).standard_normal((5, 300)).astype(np.float16)
  sid = np.array([0, 1, 2, 3, 0], np.uint8)
  sid_first = str(tmp_path / "sid_first" / "audio_train.npz")
  (tmp_path / "sid_first").mkdir()
  np.savez(sid_first, sid=sid, wav=wav)  # wav's member is not at offset 0
  for path in (npz_writer(tmp_path, "train", wav, sid), sid_first):
    split = data.load_split(path)
    assert isinstance(split.wav, np.memmap)
    assert split.wav.dtype == np.float16 and split.wav.shape == (5, 300)
    np.testing.assert_array_equal(split.wav, wav)  # the right offset: exact values
    np.testing.assert_array_equal(split.sid, sid)


def test_savez_compressed_falls_back_to_loading(tmp_path, npz_writer):
  """A compressed npz (np.savez_compressed) gives an ordinary array, not a memmap, holding
  exactly the saved samples. Rules out memory-mapping the deflated bytes as if they were
  stored, which gives garbage samples."""
  wav = np.random.default_rng(0).standard_normal((5, 300)).astype(np.float16)
  sid = np.array([0, 1, 2, 3, 0], np.uint8)
  split = data.load_split(npz_writer(tmp_path, "train", wav, sid, compressed=True))
  assert not isinstance(split.wav, np.memmap)
  np.testing.assert_array_equal(split.wav, wav)


def test_open_dataset_reads_the_three_splits(small_dataset):
  """open_dataset on small_dataset (train 16 clips, valid and test 4, sids 0 .. 3, no
  classes.json) opens each split from its own file, counts 4 classes (max sid + 1) and
  names them "0" .. "3". Rules out one file read for every split (16 clips each) and a
  class count of the largest sid (3), which would leave class 3 out."""
  ds = data.open_dataset(small_dataset)
  assert ds.train.num_clips == 16 and ds.valid.num_clips == 4 and ds.test.num_clips == 4
  assert ds.n_classes == 4 and ds.class_names == ["0", "1", "2", "3"]


def test_classes_json_names_the_classes_and_sets_their_count(small_dataset):
  """With ``classes.json`` beside the splits, n_classes is its length even
  when the data holds fewer classes (sids 0..3, six names: a model for the
  whole label set), the names come from it, and a list with a name twice,
  or fewer names than the data's classes, is refused naming the file, as
  are a name that is not a string and text that is not JSON; the names may
  also be an object's "classes" list. Rules out counting classes from the
  data's largest sid whatever the file says, a file whose duplicate names
  would make two classes one in sample.py's --classes and the evaluation's
  tables, a number taken as a class name (a KeyError far from the file) or
  a JSONDecodeError that does not name the file, and the object form
  refused or read as its keys."""
  import json
  import os
  path = os.path.join(small_dataset, "classes.json")
  names = ["bus", "cafe", "car", "city", "forest", "home"]
  with open(path, "w") as f:
    json.dump(names, f)
  ds = data.open_dataset(small_dataset)
  assert ds.n_classes == 6 and ds.class_names == names
  with open(path, "w") as f:
    json.dump({"classes": names[:5], "sample_rate": 16000}, f)
  assert data.open_dataset(small_dataset).class_names == names[:5]
  for bad, what in ((["a", "b", "a", "c"], "distinct"),
                    (["a", "b", "c"], "holds class 3; expected 0 .. 2 .*lists 3 classes"),
                    (["a", "b", 3, "c"], "distinct class-name strings"),
                    ('["a", "b",', "cannot read .*expected a JSON list")):
    with open(path, "w") as f:
      f.write(bad) if isinstance(bad, str) else json.dump(bad, f)
    with pytest.raises(DataError, match=what) as err:
      data.open_dataset(small_dataset)
    assert path in str(err.value)


def test_open_dataset_missing_train(tmp_path):
  """An empty folder is a DataError "audio_train.npz: no such file" that says what the
  setting must hold. Rules out train treated like the optional valid and test, skipped
  when absent (a KeyError, or a dataset with no training data), and a missing train left
  to load_split's generic "no such file (expected a paper-format npz ...)", which names
  neither the setting nor the class-folder alternative."""
  with pytest.raises(DataError, match=r"audio_train\.npz: no such file \(config\.data_dir "
                     r"must hold audio_train\.npz, or class folders"):
    data.open_dataset(str(tmp_path))


# ---------------------------------------------------------------------------
# TrainBatches


def test_same_step_same_batch():
  """Two TrainBatches over one split and seed give identical batches at steps 0, 3, 5 and
  one epoch + 2, also after one of them has just served the same batch of the next epoch,
  and that next-epoch batch, served right after this epoch's, equals a fresh
  TrainBatches' (another order: other clips). Rules out batches that depend on call
  history: a cache keyed on the batch index without the epoch (it serves the previous
  epoch's batch again), or a random stream advanced by each call."""
  split = numbered_split()
  a, b = batches(split), batches(split)
  steps_per_epoch = a.steps_per_epoch
  for step in (0, 3, 5, steps_per_epoch + 2):
    for _ in range(2):  # also after the cache moved on
      x, y = a.get(step), b.get(step)
      for k in x:
        np.testing.assert_array_equal(x[k], y[k])
      later = step + steps_per_epoch
      x, y = a.get(later), batches(split).get(later)
      for k in x:
        np.testing.assert_array_equal(x[k], y[k])


@pytest.mark.parametrize("seq_len, frame_size", [(64, 16), (48, 8)])
def test_batches_have_batch_specs_shapes(seq_len, frame_size):
  """Training and evaluation batches hold exactly ``batch_spec``'s keys,
  shapes and dtypes (the benchmarks' random batches and the shapes
  train_kernels.py compiles for are made from it), for two frame sizes.
  Rules out a spec that drifts from the batches train.py feeds, e.g. a
  chunk without its S-sample overlap, a float mask or an int reset; and
  batches that pass on a hand-built split's own sid dtype (uint8 here;
  evaluation did: another compiled eval step)."""
  split = numbered_split(n=6, t=150)
  split = data.Split(split.path, split.wav, split.sid.astype(np.uint8))
  spec = data.batch_spec(4, seq_len, frame_size)
  got = [batches(split, 4, seq_len, frame_size).get(1),
         next(iter(data.eval_batches(split, 4, seq_len, frame_size, "linear", 256)))]
  for batch in got:
    assert {k: (v.shape, v.dtype) for k, v in batch.items()} == spec


def test_epochs_visit_clips_in_different_orders():
  """10 clips in batches of 4 (2 batches an epoch, 2 clips left out): each of 3 epochs holds
  8 distinct clips, each epoch's order differs from the one before, epoch 0 is not the
  file order, and seed 1 gives another order. Rules out file order, one shuffle reused
  every epoch (seeded without the epoch), drawing with replacement, and an ignored seed."""
  split = numbered_split(n=10)
  tb = batches(split, batch_size=4)  # 2 batches an epoch, 2 clips dropped
  assert tb.batches_per_epoch == 2 and tb.chunks_per_batch == 4
  orders = []
  for epoch in range(3):
    seen = [tb.get((epoch * 2 + b) * tb.chunks_per_batch)["sid"] for b in range(2)]
    seen = np.concatenate(seen)
    assert len(set(seen.tolist())) == 8  # no clip twice in an epoch
    orders.append(seen.tolist())
  assert orders[0] != orders[1] and orders[1] != orders[2]
  # and the order is not the file order
  assert orders[0] != list(range(8))
  # another seed, another order
  other = batches(split, batch_size=4, seed=1)
  assert np.concatenate([other.get(b * 4)["sid"] for b in range(2)]).tolist() != orders[0]


def test_reset_only_on_the_first_chunk():
  """With 4 chunks a batch (200 samples, seq_len 64), reset is a bool [4], all True on the
  first chunk of each of two batches and all False on the other chunks. Rules out reset on
  every chunk, reset only at step 0 (not at the second batch's first chunk), and a float
  or int reset."""
  tb = batches(numbered_split(t=200), batch_size=4, seq_len=64)
  assert tb.chunks_per_batch == 4  # ceil(200 / 64)
  for step in range(2 * tb.chunks_per_batch):
    batch = tb.get(step)
    assert batch["reset"].dtype == bool and batch["reset"].shape == (4,)
    assert batch["reset"].all() == (step % tb.chunks_per_batch == 0)
    assert batch["reset"].any() == batch["reset"].all()


def test_chunks_overlap_by_frame_size_and_rebuild_the_clip():
  """256-sample clips in chunks of seq_len 64 + frame_size 16: each chunk is int32 [4, 80] of
  the same clips, starts with the previous chunk's last 16 levels (the first with 16
  Q_ZERO), and the targets laid end to end equal the whole clips quantised at once, none
  masked. Rules out chunks without the S-sample overlap, no Q_ZERO lead-in, and levels
  quantised per chunk (each chunk's own min and max)."""
  split = numbered_split(t=256)
  s, t = 16, 64
  tb = batches(split, batch_size=4, seq_len=t, frame_size=s)
  chunks = [tb.get(i) for i in range(tb.chunks_per_batch)]
  sid = chunks[0]["sid"]
  for c in chunks:
    assert c["chunk"].shape == (4, t + s) and c["chunk"].dtype == np.int32
    np.testing.assert_array_equal(c["sid"], sid)  # the same clips throughout
  for a, b in zip(chunks, chunks[1:]):
    np.testing.assert_array_equal(b["chunk"][:, :s], a["chunk"][:, -s:])
  assert (chunks[0]["chunk"][:, :s] == Q_ZERO).all()  # S samples of Q_ZERO first
  targets = np.concatenate([c["chunk"][:, s:] for c in chunks], 1)
  expected = quantize.quantize(np.asarray(split.wav[sid], np.float64), "linear")
  np.testing.assert_array_equal(targets, expected)
  assert all(c["mask"].all() for c in chunks)  # 256 = 4 * 64: nothing masked


def test_partial_last_chunk_is_padded_and_masked():
  """150-sample clips (2 * 64 + 22) give 3 chunks, the last masked 1 on its 22 real samples
  and 0 after, padded with Q_ZERO, its real samples the clips' last 22 levels. Rules out
  the partial chunk dropped (floor division), padding left unmasked or padded with 0, and
  the tail placed elsewhere in the chunk."""
  split = numbered_split(t=150)  # 150 = 2 * 64 + 22
  tb = batches(split, batch_size=2, seq_len=64, frame_size=16)
  assert tb.chunks_per_batch == 3
  for i in range(2):
    assert tb.get(i)["mask"].all()
  last = tb.get(2)
  assert last["mask"].shape == (2, 64)
  assert (last["mask"][:, :22] == 1).all() and (last["mask"][:, 22:] == 0).all()
  assert (last["chunk"][:, 16 + 22:] == Q_ZERO).all()  # padding is Q_ZERO
  # the real samples are still the clip's
  expected = quantize.quantize(np.asarray(split.wav[last["sid"]], np.float64), "linear")
  np.testing.assert_array_equal(last["chunk"][:, 16:16 + 22], expected[:, 128:150])


def test_two_processes_rows_make_the_one_process_batch():
  """Two processes' TrainBatches (index 0 and 1 of 2, 3 rows each) concatenate, key by key,
  to the one-process batch of 6 at steps 0, 1, 2 and in the next epoch. Rules out a
  shuffle seeded per process, halves swapped or overlapping, and each process
  materialising the whole batch."""
  split = numbered_split(n=12, t=150)
  one = batches(split, batch_size=6)
  parts = [batches(split, batch_size=6, process_index=i, process_count=2) for i in range(2)]
  for step in (0, 1, 2, one.steps_per_epoch + 4):
    full = one.get(step)
    halves = [p.get(step) for p in parts]
    for k in full:
      assert halves[0][k].shape[0] == 3
      np.testing.assert_array_equal(np.concatenate([h[k] for h in halves]), full[k])


def test_train_batches_bad_sizes():
  """A batch_size above the split's clip count (20 > 10), and one that does not divide by the
  process count (5 over 2), are DataErrors naming config.batch_size. Rules out an epoch of
  no batches accepted (steps_per_epoch 0) and 5 // 2 = 2 rows a process, which would drop
  a row silently."""
  with pytest.raises(DataError, match=r"fewer than config.batch_size=20"):
    batches(numbered_split(n=10), batch_size=20)
  with pytest.raises(DataError, match=r"config.batch_size=5 does not divide by the 2"):
    batches(numbered_split(n=10), batch_size=5, process_count=2)


def test_non_finite_clip_is_reported():
  """Rules out a batch built from a clip that turned non-finite (or out of
  quantize's range) after the split was opened: the split's file and the
  row are named, instead of levels made from NaN."""
  split = numbered_split(n=4)
  split.wav[2, 10] = np.nan
  tb = batches(split, batch_size=4)
  with pytest.raises(DataError, match=r"row 2 holds NaN"):
    tb.get(0)
  split = numbered_split(n=4)
  split = data.Split(split.path, split.wav.astype(np.float64), split.sid)
  split.wav[3, 10], split.wav[3, 11] = 1e308, -1e308
  with pytest.raises(DataError, match=r"row 3 holds a sample of magnitude 1e\+308, beyond 8.99e\+307"):
    batches(split, batch_size=4).get(0)


# ---------------------------------------------------------------------------
# eval_batches


@pytest.mark.parametrize("process_count", [1, 2])
def test_eval_batches_visit_every_clip_once(process_count):
  """5 clips of 150 samples in batches of 4, with 1 process and with 2 (rows joined): 2
  batches of 3 chunks, reset on each batch's first chunk, every clip scored on exactly its
  150 samples, the second batch's clip 4 in row 0 beside 3 fully masked padding rows.
  Rules out the partial last batch dropped (clip 4 never scored), padding rows left
  unmasked (clip 4 scored four times), and the last chunk's padding counted as samples."""
  split = numbered_split(n=5, t=150)
  bs, t, s = 4, 64, 16
  per_process = [list(data.eval_batches(split, bs, t, s, "linear", 256, i, process_count))
                 for i in range(process_count)]
  out = [{k: np.concatenate([p[j][k] for p in per_process]) for k in per_process[0][j]}
         for j in range(len(per_process[0]))]
  assert len(out) == 2 * 3  # 2 batches (4 + 1 clips) of 3 chunks each
  real = {}
  for j, b in enumerate(out):
    assert b["chunk"].shape == (bs, t + s) and b["mask"].shape == (bs, t)
    assert b["reset"].all() == (j % 3 == 0)
    for row, sid in enumerate(b["sid"]):
      n = int(b["mask"][row].sum())
      if n:
        real.setdefault(int(sid), []).append(n)
  # every clip once, all 150 of its samples scored, none twice
  assert {k: sum(v) for k, v in real.items()} == {i: 150 for i in range(5)}
  last = out[3:]  # the second batch: clip 4 and 3 masked padding rows
  assert [b["sid"][0] for b in last] == [4] * 3
  for b in last:
    assert (b["mask"][1:] == 0).all()
  assert sum(b["mask"].sum() for b in out) == 5 * 150


# ---------------------------------------------------------------------------
# dither (config.dither)


def test_dither_turns_a_sub_level_passage_into_noise_around_its_level():
  """A passage quieter than one level is one constant level without dither
  and, with TPDF dither, noise whose mean is the passage's exact (fractional)
  level less the half level that truncation always takes off. Rules out dither
  that is ignored, added after truncation (its mean would be the truncated
  level), or scaled to the wrong unit (a too-small dither leaves one level; a
  too-large one spreads over more than the three levels next to it)."""
  t = 200_000
  quiet = np.full(t, 0.3)  # the passage; the clip's first two samples set min and max
  quiet[:2] = (0.0, 1.0)
  exact = 0.3 * (256 - 1e-5) + 5e-6  # 76.8: the level before truncation
  plain = quantize.quantize(quiet[None])[0, 2:]
  assert set(plain.tolist()) == {76}
  noise = quantize.tpdf_dither(np.random.default_rng(0), (1, t))
  assert noise.min() >= -1 and noise.max() <= 1 and abs(noise.mean()) < 0.01
  dithered = quantize.quantize(quiet[None], dither=noise)[0, 2:]
  assert set(dithered.tolist()) <= {75, 76, 77} and len(set(dithered.tolist())) == 3
  # E[floor(x + d)] = x - 1/2 for triangular d; sd of the mean ~ 0.001
  assert abs(dithered.mean() - (exact - 0.5)) < 0.01


@pytest.mark.parametrize("q_type", ["linear", "mu-law", "a-law"])
def test_dithered_levels_stay_in_range(q_type):
  """Dither at the clip's extremes must not push levels out of 0 .. Q-1
  (rules out a missing clip, which would give -1 or Q: an out-of-range
  embedding index)."""
  x = np.linspace(-1, 1, 1000)[None]
  noise = np.where(np.arange(1000) % 2, 1.0, -1.0)[None]
  q = quantize.quantize(x, q_type, 256, dither=noise)
  assert q.min() == 0 and q.max() == 255


def test_dithered_batches_follow_the_clip_not_the_batch_or_process():
  """With dither, a clip's noise depends on (seed, epoch, clip) only: two
  processes' rows still make the one-process batch, the same step gives the
  same batch, and another epoch gives the clip new noise (rules out noise
  drawn from one stream per batch or per process, which would break exact
  resume and multi-host equivalence, and noise frozen across epochs)."""
  split = numbered_split(n=12, t=150)
  one = batches(split, batch_size=6, dither=True)
  plain = batches(split, batch_size=6)
  parts = [batches(split, batch_size=6, process_index=i, process_count=2, dither=True)
           for i in range(2)]
  for step in (0, 2, one.steps_per_epoch + 4):
    full = one.get(step)
    np.testing.assert_array_equal(full["chunk"], batches(split, 6, dither=True).get(step)["chunk"])
    halves = [p.get(step) for p in parts]
    np.testing.assert_array_equal(np.concatenate([h["chunk"] for h in halves]), full["chunk"])
    assert (full["chunk"] != plain.get(step)["chunk"]).any()
  # clip 0's first chunk in two epochs: the same audio, other noise
  def first_chunk_of(clip, epoch):
    for b in range(one.batches_per_epoch):
      got = one.get((epoch * one.batches_per_epoch + b) * one.chunks_per_batch)
      rows = np.flatnonzero(got["sid"] == clip)
      if len(rows):
        return got["chunk"][rows[0]]
  epochs = [e for e in range(6) if first_chunk_of(0, e) is not None][:2]
  assert len(epochs) == 2
  assert (first_chunk_of(0, epochs[0]) != first_chunk_of(0, epochs[1])).any()


def test_dithered_eval_batches_are_the_same_at_every_evaluation():
  """Evaluation dither is seeded by the clip alone, so the valid cost of two
  evaluations of the same parameters is equal (rules out fresh noise at each
  evaluation, which would make best-checkpoint choice noisy)."""
  split = numbered_split(n=5, t=150)
  runs = [list(data.eval_batches(split, 4, 64, 16, "linear", 256, dither=True))
          for _ in range(2)]
  plain = list(data.eval_batches(split, 4, 64, 16, "linear", 256))
  for a, b, p in zip(*runs, plain):
    np.testing.assert_array_equal(a["chunk"], b["chunk"])
  assert any((a["chunk"] != p["chunk"]).any() for a, p in zip(runs[0], plain))


# ---------------------------------------------------------------------------
# class balance (config.balance_classes)


def test_balanced_epochs_draw_every_class_as_often_as_the_largest():
  """Each class is drawn as often as the largest one, a smaller class in
  whole passes over its clips (each clip drawn floor or ceil of the ratio
  times), the draws are shuffled across classes and differ between epochs.
  Rules out oversampling by random draws with replacement (a clip could be
  left out of a whole epoch), repeating the small classes in file order, and
  one fixed order for every epoch."""
  sid = np.array([0] * 3 + [1] * 7 + [2] * 2, np.int32)
  orders = [data.balanced_order(sid, seed=0, epoch=e) for e in range(3)]
  for order in orders:
    assert np.bincount(sid[order]).tolist() == [7, 7, 7]
    per_clip = np.bincount(order, minlength=len(sid))
    assert set(per_clip[sid == 0].tolist()) <= {2, 3} and per_clip[sid == 0].sum() == 7
    assert per_clip[sid == 1].tolist() == [1] * 7
    assert set(per_clip[sid == 2].tolist()) == {3, 4}
    assert sid[order].tolist() != sorted(sid[order].tolist())  # classes mixed
  assert orders[0].tolist() != orders[1].tolist() != orders[2].tolist()
  np.testing.assert_array_equal(orders[0], data.balanced_order(sid, seed=0, epoch=0))


def test_balanced_batches_are_balanced_resumable_and_split_by_process():
  """With balance on, an epoch holds (classes x largest class) // B batches,
  each class is drawn equally often over the epoch's full batches (up to
  the dropped remainder), a step gives the same batch every time, and two
  processes' rows make the one-process batch. Rules out a balance flag the
  batches ignore, an epoch length still counted in clips, and a per-process
  order."""
  wav = np.random.default_rng(0).standard_normal((10, 150)).astype(np.float16)
  split = data.Split("<test>", wav, np.array([0] * 8 + [1] * 2, np.int32))
  tb = batches(split, batch_size=4, balance=True)
  assert tb.batches_per_epoch == 16 // 4
  assert batches(split, batch_size=4).batches_per_epoch == 10 // 4
  sids = np.concatenate([tb.get(b * tb.chunks_per_batch)["sid"]
                         for b in range(tb.batches_per_epoch)])
  assert np.bincount(sids).tolist() == [8, 8]
  parts = [batches(split, batch_size=4, balance=True, process_index=i, process_count=2)
           for i in range(2)]
  for step in (0, 5, tb.steps_per_epoch + 3):
    full = tb.get(step)
    np.testing.assert_array_equal(full["chunk"], batches(split, 4, balance=True).get(step)["chunk"])
    np.testing.assert_array_equal(
        np.concatenate([p.get(step)["chunk"] for p in parts]), full["chunk"])


def test_cond_dropout_drops_whole_clips_at_the_asked_share():
  """config.cond_dropout: about that share of an epoch's draws get sid -1
  (trained without their class; steps.class_vectors makes it the zero
  vector), for every chunk of the clip, the same on resume and across
  processes, and other clips in other epochs. Rules out dropping per chunk
  (a clip would switch conditioning mid-sequence under a carried RNN state),
  a per-process draw, a flag that is ignored, and dropping at 0."""
  from samplernn_jax import steps
  split = numbered_split(n=40, t=150)
  tb = batches(split, batch_size=8, cond_dropout=0.25)
  dropped = []
  for epoch in range(3):
    for b in range(tb.batches_per_epoch):
      first = (epoch * tb.batches_per_epoch + b) * tb.chunks_per_batch
      sids = [tb.get(first + c)["sid"] for c in range(tb.chunks_per_batch)]
      for later in sids[1:]:
        np.testing.assert_array_equal(later, sids[0])
      dropped.append(sids[0] == -1)
  share = np.concatenate(dropped).mean()
  assert 0.15 < share < 0.35  # 120 draws at p = 0.25
  assert not np.array_equal(np.concatenate(dropped[:5]), np.concatenate(dropped[5:10]))
  parts = [batches(split, 8, cond_dropout=0.25, process_index=i, process_count=2)
           for i in range(2)]
  for step in (0, 7, tb.steps_per_epoch + 1):
    full = batches(split, 8, cond_dropout=0.25).get(step)["sid"]
    np.testing.assert_array_equal(np.concatenate([p.get(step)["sid"] for p in parts]), full)
  assert (batches(split, 8).get(0)["sid"] >= 0).all()
  vec = np.asarray(steps.class_vectors(np.array([-1, 2]), 4))
  np.testing.assert_array_equal(vec, [[0, 0, 0, 0], [0, 0, 1, 0]])


# ---------------------------------------------------------------------------
# cutting quiet passages (config.trim_quiet)


def test_trim_cuts_frames_below_the_threshold_and_recuts_each_class():
  """Frames (20 ms) whose spread about their own mean is under the threshold
  in levels of the clip's min-max range are cut; what is left of each class
  is joined in file order and cut into clips of the original length.
  A passage at a constant offset counts as quiet (rules out a threshold on
  plain RMS, which keeps a constant non-zero level), a passage of 0.6 levels'
  spread stays at threshold 0.5 and goes at 0.7 (rules out a threshold in
  the wrong unit), and the kept audio is the loud frames in their order
  (rules out joining in another order or dropping the wrong frames)."""
  from samplernn_jax import trim
  f = trim.FRAME
  rng = np.random.default_rng(0)
  loud = [rng.uniform(-1, 1, f) for _ in range(13)]
  level = 2.0 / 256  # every clip below spans -1 .. 1
  quiet = 0.3 + np.tile([0.6 * level, -0.6 * level], f // 2)  # spread 0.6 levels
  flat = np.full(f, 0.25)
  clips = [np.concatenate([loud[0], flat, loud[1], quiet, loud[2], loud[3]]),
           np.concatenate([loud[4], loud[5], flat, flat, loud[6], quiet]),
           np.concatenate(loud[7:13])]
  for c in clips:
    c[:2] = (-1.0, 1.0)
  clips = [c.astype(np.float32) for c in clips]
  split = data.Split("<test>", np.stack(clips), np.array([0, 0, 1], np.int32))
  out, counts = trim.trim_split(split, 256, 0.5, ["a", "b"])
  # class a keeps 5 + 4 frames: one clip of 6 frames, the rest dropped
  assert counts == {"a": (2, 1), "b": (1, 1)} and out.sid.tolist() == [0, 1]
  want = np.concatenate([clips[0][:f], clips[0][2 * f:], clips[1][:f]])
  np.testing.assert_array_equal(out.wav[0], want.astype(np.float32))
  np.testing.assert_array_equal(out.wav[1], clips[2].astype(np.float32))
  tighter, counts = trim.trim_split(split, 256, 0.7, ["a", "b"])
  assert counts == {"a": (2, 1), "b": (1, 1)}
  want = np.concatenate([clips[0][:f], clips[0][2 * f:3 * f], clips[0][4 * f:], clips[1][:2 * f]])
  np.testing.assert_array_equal(tighter.wav[0], want.astype(np.float32))


def test_trim_drops_a_clip_that_is_silent_throughout():
  """A clip without a single change (a silent recording: no min-max range,
  so no level to measure against) is cut whole, as its quiet passages are
  in any other clip. Rules out a clip of zero range kept whole: the
  constant state trim_quiet exists to keep out of training."""
  from samplernn_jax import trim
  f = trim.FRAME
  rng = np.random.default_rng(1)
  loud = rng.uniform(-1, 1, 4 * f).astype(np.float32)
  split = data.Split("<test>", np.stack([np.zeros(4 * f, np.float32), loud]),
                     np.array([0, 0], np.int32))
  out, counts = trim.trim_split(split, 256, 0.5, ["a"])
  assert counts == {"a": (2, 1)}
  np.testing.assert_array_equal(out.wav[0], loud)


def test_trim_keeps_the_tail_shorter_than_a_frame():
  """A clip whose length is not a multiple of the 20 ms frame keeps its last
  partial frame (too short to judge): two loud float16 clips (the paper's
  format) of 6 frames and 100 samples come back unchanged, still float16.
  Rules out dropping the tail, which would shorten every class's joined
  audio and, here, lose the second clip, and a float32 copy (twice the
  train file in memory)."""
  from samplernn_jax import trim
  rng = np.random.default_rng(3)
  wav = rng.uniform(-1, 1, (2, 6 * trim.FRAME + 100)).astype(np.float16)
  split = data.Split("<test>", wav, np.array([0, 0], np.int32))
  out, counts = trim.trim_split(split, 256, 0.5, ["a"])
  assert counts == {"a": (2, 2)}
  assert out.wav.dtype == np.float16
  np.testing.assert_array_equal(out.wav, wav)


def test_trim_frame_is_20_ms_at_the_data_rate():
  """The trim frame follows config.sample_rate: 320 samples at 16 kHz (the
  paper's), 160 at 8 kHz, 882 at 44.1 kHz. Rules out a frame fixed at 320,
  which is 40 ms of 8 kHz data."""
  from samplernn_jax import trim
  assert [trim.frame_samples(r) for r in (16000, 8000, 44100)] == [trim.FRAME, 160, 882]


def test_trim_names_the_class_that_keeps_less_than_a_clip():
  """A class whose clips are all quiet is refused with a DataError naming the
  class and config.trim_quiet (rules out silently training without it)."""
  from samplernn_jax import trim
  wav = np.zeros((2, 4 * trim.FRAME), np.float32)
  wav[0] = np.random.default_rng(0).uniform(-1, 1, wav.shape[1])
  wav[1, :2] = (-1.0, 1.0)
  split = data.Split("<test>", wav, np.array([0, 1], np.int32))
  with pytest.raises(DataError, match=r"class 'hum' keeps .* config.trim_quiet=0.5"):
    trim.trim_split(split, 256, 0.5, ["birds", "hum"])


# ---------------------------------------------------------------------------
# class folders packed on demand (datasets.pack_class_folders)


def class_folders(src, seed: int, nest: str = ""):
  """Class folders a and b under ``src`` (``nest``: a folder inside each),
  10 recordings of one 8 s clip each (split 8 / 1 / 1); returns ``src``."""
  import soundfile as sf
  rng = np.random.default_rng(seed)
  for name in ("a", "b"):
    (src / name / nest).mkdir(parents=True)
    for i in range(10):
      sf.write(str(src / name / nest / f"r{i}.wav"), 0.1 * rng.standard_normal(8 * 16000),
               16000)
  return src


@pytest.mark.parametrize("nest", ["", "day1/"])
def test_class_folders_are_packed_again_only_when_recordings_change(tmp_path, nest):
  """A folder of class sub-folders is packed into .packed on first use,
  reused unchanged while the recordings are the same, and packed again when
  one changes (rules out scoring or training on stale splits, e.g. a test
  or a user run reading the .packed of recordings since replaced). With
  ``nest`` the recordings sit in a folder inside each class folder (the
  packer reads class folders recursively): rules out a fingerprint of the
  class folder's own listing only, blind to a nested file rewritten in place."""
  import os
  import soundfile as sf
  from samplernn_jax import datasets
  src = class_folders(tmp_path / "rec", seed=0, nest=nest)
  out = datasets.resolve_data_dir(str(src))
  train = os.path.join(out, "audio_train.npz")
  first = (os.stat(train).st_mtime_ns, np.load(train)["wav"].copy())
  assert datasets.resolve_data_dir(str(src)) == out
  assert os.stat(train).st_mtime_ns == first[0]  # reused, not rewritten
  sf.write(str(src / "a" / nest / "r0.wav"),
           np.zeros(8 * 16000) + 0.5 * np.sin(np.arange(8 * 16000)), 16000)
  assert datasets.resolve_data_dir(str(src)) == out
  changed = np.load(os.path.join(out, "audio_train.npz"))["wav"]
  assert changed.shape == first[1].shape and not np.array_equal(changed, first[1])


def test_class_folders_are_packed_again_when_a_recording_is_added_or_removed(tmp_path):
  """A recording added to a class folder, or one removed, packs the folder
  again: every split is rebuilt from the recordings now there (one 8 s clip
  each, so the clips of the three splits count the recordings). Rules out a
  fingerprint that covers only the recordings packed before (contents or
  times of the files it already knows), which would keep training on the
  old set after a user adds or deletes files."""
  import os
  import soundfile as sf
  from samplernn_jax import datasets
  src = tmp_path / "rec"
  rng = np.random.default_rng(1)

  def record(name, i):
    sf.write(str(src / name / f"r{i}.wav"), 0.1 * rng.standard_normal(8 * 16000), 16000)

  for name in ("a", "b"):
    (src / name).mkdir(parents=True)
    for i in range(10):
      record(name, i)

  def clips_per_class():
    out = datasets.resolve_data_dir(str(src))
    sid = np.concatenate([np.load(os.path.join(out, f"audio_{s}.npz"))["sid"]
                          for s in data.SPLITS])
    return np.bincount(sid, minlength=2).tolist()

  assert clips_per_class() == [10, 10]
  record("a", 10)  # added
  assert clips_per_class() == [11, 10]
  os.remove(src / "b" / "r3.wav")  # removed
  assert clips_per_class() == [11, 9]


def test_a_config_rate_other_than_the_packings_is_refused_before_packing(tmp_path):
  """config.sample_rate 22050 with class folders (packed here at 16 kHz) or
  the synthetic set: a DataError naming the setting, the data and the way
  out, and no .packed written; 16000 (the control) opens both. Rules out
  training on 16 kHz audio whose WAVs are then written and played as 22050
  Hz, with no word said."""
  import os
  from samplernn_jax import datasets
  src = class_folders(tmp_path / "rec", seed=0)
  with pytest.raises(datasets.DataError, match=(
      rf"^config.sample_rate=22050, but config.data_dir={src} \(class folders, "
      r"packed on first use\) is made at 16000 Hz; pack the recordings at 22050 Hz "
      r"with scripts/pack_folder.py --sample_rate=22050")):
    datasets.open_dataset(str(src), sample_rate=22050)
  assert not os.path.exists(src / datasets.PACKED)
  with pytest.raises(datasets.DataError, match=r"^config.sample_rate=22050, but "
                     r"config.data_dir=synthetic is made at 16000 Hz"):
    datasets.open_dataset("synthetic", sample_rate=22050)
  assert datasets.open_dataset(str(src), sample_rate=16000).n_classes == 2
  assert datasets.open_dataset("synthetic", sample_rate=16000).n_classes == 4


def test_packing_a_class_folder_logs_its_summary_and_a_missing_valid_split_is_said(
    tmp_path, caplog):
  """train.py packing class folders on first use logs the packing summary
  (clips per class and split); with one recording a class no valid split is
  written, and the trainer's warning names the missing file and what the
  run gives up. Rules out a run that silently never evaluates, keeps no
  best/ and draws no curves.png."""
  import os
  import soundfile as sf
  from samplernn_jax import datasets, trainer
  src = tmp_path / "rec"
  for name in ("a", "b"):
    (src / name).mkdir(parents=True)
    sf.write(str(src / name / "r0.wav"), 0.1 * np.ones(8 * 16000), 16000)
  with caplog.at_level("WARNING"):
    ds = datasets.open_dataset(str(src))
  packed = os.path.join(str(src), datasets.PACKED)
  assert f"{packed}: clips of 8 s at 16000 Hz" in caplog.text
  assert "split 'valid' is empty" in caplog.text
  assert ds.valid is None
  assert trainer.no_valid_warning(ds) == (
      f"{os.path.join(packed, 'audio_valid.npz')}: no such file, so the run never "
      "evaluates, keeps no best/ and draws no curves.png")


def test_two_users_of_one_class_folder_pack_it_once(tmp_path, monkeypatch):
  """Two runs (or the processes of one multi-host run) reaching an unpacked
  class folder at once: one packs while the other waits on the folder's
  lock, then finds it packed and packs nothing; both get the same splits.
  Rules out packing without a lock: both would find no fingerprint and
  write the same temporary files of .packed at once."""
  import os
  import threading
  import time
  from samplernn_jax import datasets, packing
  src = class_folders(tmp_path / "rec", seed=2)
  real, packed = packing.pack_folder, []

  def slow_pack(*args, **kwargs):
    packed.append(args)
    time.sleep(0.5)  # the other user arrives while this one packs
    return real(*args, **kwargs)

  monkeypatch.setattr(packing, "pack_folder", slow_pack)
  outs = []
  users = [threading.Thread(target=lambda: outs.append(datasets.resolve_data_dir(str(src))))
           for _ in range(2)]
  for user in users:
    user.start()
    time.sleep(0.1)
  for user in users:
    user.join()
  assert len(packed) == 1 and outs == [str(src / datasets.PACKED)] * 2
  assert os.path.isfile(os.path.join(outs[0], "audio_train.npz"))


def test_a_read_only_class_folder_packed_before_is_used(tmp_path, monkeypatch):
  """A class folder packed earlier, now read-only (a shared dataset folder):
  its packing is used as it is, though the lock file cannot be created; one
  whose recordings changed since is one DataError naming the folder and the
  way out. Rules out every read-only folder refused for want of a lock."""
  import errno
  import os
  import soundfile as sf
  from samplernn_jax import datasets, files
  from samplernn_jax.errors import DataError
  src = class_folders(tmp_path / "rec", seed=3)
  out = datasets.resolve_data_dir(str(src))

  def read_only(path, what):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)

  monkeypatch.setattr(files, "exclusive", read_only)
  assert datasets.resolve_data_dir(str(src)) == out
  sf.write(str(src / "a" / "r0.wav"), np.zeros(8 * 16000), 16000)
  with pytest.raises(DataError, match=rf"data_dir={src}: cannot create or lock \.packed\.lock "
                     r"in it to pack its class folders \(Permission denied\); pack them "
                     r"elsewhere"):
    datasets.resolve_data_dir(str(src))


@pytest.mark.parametrize("q_type,q_levels", [("mu-law", 256), ("a-law", 256),
                                             ("linear", 64), ("mu-law", 1024)])
def test_batches_use_the_configs_quantisation(q_type, q_levels):
  """Training and evaluation batches quantise with config.q_type and
  config.q_levels: targets equal quantize(wav, q_type, q_levels), levels lie
  in 0 .. q_levels - 1 and the lead-in and padding are that scheme's zero
  level q_levels // 2 (rules out batches that always use linear 256-level
  quantisation, or a Q_ZERO fixed at 128)."""
  split = numbered_split(n=4, t=150)
  tb = data.TrainBatches(split, 4, 64, 16, q_type, q_levels, seed=0)
  chunks = [tb.get(i) for i in range(tb.chunks_per_batch)]
  sid = chunks[0]["sid"]
  targets = np.concatenate([c["chunk"][:, 16:] for c in chunks], 1)[:, :150]
  want = quantize.quantize(np.asarray(split.wav[sid], np.float64), q_type, q_levels)
  np.testing.assert_array_equal(targets, want)
  assert all(0 <= c["chunk"].min() and c["chunk"].max() < q_levels for c in chunks)
  assert (chunks[0]["chunk"][:, :16] == q_levels // 2).all()
  assert (chunks[-1]["chunk"][:, 16 + 150 - 128:] == q_levels // 2).all()  # padding
  ev = list(data.eval_batches(split, 4, 64, 16, q_type, q_levels))
  eval_targets = np.concatenate([b["chunk"][:, 16:] for b in ev], 1)[:, :150]
  np.testing.assert_array_equal(eval_targets, quantize.quantize(
      np.asarray(split.wav[:4], np.float64), q_type, q_levels))
