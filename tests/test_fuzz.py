"""Bad inputs, corrupted at random and by hand: one clear error each.

The data splits (``data.load_split``): a small valid npz (``wav`` float16
[6, 256], ``sid`` uint8 [6], 4 classes) truncated at seeded random offsets,
with bytes overwritten at random, and with every kind of wrong content
(dtype, rank, NaN/Inf, lengths, class ids, empty arrays, not a zip, pickled
objects). Each gives exactly one ``data.DataError`` whose one-line message
names the file (and, for wrong content, the key at fault); never another
exception type. Two of them also go through
train.py: exit code 2, one ``error:`` line, no traceback.

The ``--prime`` WAV of sample.py (``sample_files.read_prime``): wrong rate,
stereo, empty, NaN, not audio; one of them through sample.py. The packers'
WAV inputs are tested in tests/test_packers.py.
"""
import os
import pickle
import re
import subprocess
import sys

import jax
import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, load_config_file, subprocess_env
from samplernn_jax import checkpoint, data, sample_files, splits, steps
from samplernn_jax import config as config_lib
from samplernn_jax.data import DataError
from samplernn_jax.errors import ParamFormatError

N, T, C = 6, 256, 4
RATE = 16000


def valid_arrays(seed=0):
  rng = np.random.default_rng(seed)
  wav = (0.3 * rng.standard_normal((N, T))).astype(np.float16)
  sid = (np.arange(N) % C).astype(np.uint8)
  return wav, sid


def write_npz(path, compressed=False, **arrays):
  (np.savez_compressed if compressed else np.savez)(path, **arrays)
  return str(path)


def expect_data_error(path, n_classes=C, *fragments):
  """load_split raises exactly one DataError: one line, naming the file."""
  with pytest.raises(DataError) as err:
    data.load_split(str(path), n_classes=n_classes)
  assert type(err.value) is DataError
  msg = str(err.value)
  assert msg.startswith(f"{path}: ") and "\n" not in msg, msg
  for fragment in fragments:
    assert fragment in msg, msg
  return msg


@pytest.fixture
def valid_npz(tmp_path):
  wav, sid = valid_arrays()
  return write_npz(tmp_path / "audio_train.npz", wav=wav, sid=sid)


def test_the_valid_file_loads(valid_npz):
  """The control: the uncorrupted file loads (so the corruptions are what fail)."""
  split = data.load_split(valid_npz, n_classes=C)
  wav, sid = valid_arrays()
  np.testing.assert_array_equal(split.wav, wav)
  np.testing.assert_array_equal(split.sid, sid)


# ---------------------------------------------------------------------------
# damaged files


def test_truncated_at_random_offsets(valid_npz, tmp_path):
  """The valid npz cut at 0, 3, 30 and len - 1 bytes and at 10 seeded random offsets: each
  gives exactly one DataError, one line, starting with the path. Rules out catching only
  zipfile.BadZipFile (the empty file raises EOFError, the 3-byte one numpy's ValueError)
  and any other exception type escaping load_split."""
  with open(valid_npz, "rb") as f:
    blob = f.read()
  rng = np.random.default_rng(1)
  cuts = sorted({0, 3, 30, len(blob) - 1, *rng.integers(1, len(blob) - 1, 10).tolist()})
  for cut in cuts:
    path = tmp_path / f"cut_{cut}.npz"
    path.write_bytes(blob[:cut])
    expect_data_error(path)


def test_random_bytes_overwritten(valid_npz, tmp_path):
  """Bit rot anywhere: either a DataError naming the file, or a split that
  passes every check (a flipped sample value is still a sample)."""
  with open(valid_npz, "rb") as f:
    blob = bytearray(f.read())
  rng = np.random.default_rng(2)
  outcomes = {"error": 0, "loaded": 0}
  for i in range(200):
    bad = bytearray(blob)
    # Half the trials hit the headers (zip entries, npy header dicts).
    hi = 400 if i % 2 else len(bad)
    for pos in rng.integers(0, hi, int(rng.integers(1, 8))):
      bad[pos] = int(rng.integers(0, 256))
    path = tmp_path / f"rot_{i}.npz"
    path.write_bytes(bytes(bad))
    try:
      split = data.load_split(str(path), n_classes=C)
    except DataError as e:
      assert str(e).startswith(f"{path}: ") and "\n" not in str(e), str(e)
      outcomes["error"] += 1
    else:
      assert split.wav.ndim == 2 and split.wav.shape[0] == split.sid.shape[0] > 0
      assert np.isfinite(np.asarray(split.wav)).all()
      assert ((split.sid >= 0) & (split.sid < C)).all()
      outcomes["loaded"] += 1
  assert outcomes["error"] > 0, outcomes


@pytest.mark.parametrize("content", [
    b"", b"hello, this is not a zip file\n", bytes(range(256)) * 4,
    b"PK\x03\x04" + b"\0" * 100,
])
def test_not_an_npz(tmp_path, content):
  """Empty bytes, a line of text, 1 KiB of byte values, and a zip local-header signature
  followed by zeros, each named audio_train.npz: one DataError naming the file. Rules out
  np.load's EOFError, its ValueError (pickled data refused) or zipfile.BadZipFile escaping
  as itself."""
  path = tmp_path / "audio_train.npz"
  path.write_bytes(content)
  expect_data_error(path)


def test_an_npy_array_named_npz(tmp_path):
  """A plain .npy array saved under an .npz name (np.load returns an ndarray, not an NpzFile)
  gives one DataError naming the file. Rules out catching only what np.load raises: here it
  succeeds, and using its ndarray as an archive raises TypeError or AttributeError."""
  path = tmp_path / "audio_train.npz"
  with open(path, "wb") as f:
    np.save(f, valid_arrays()[0])
  expect_data_error(path)


def test_a_pickle_named_npz(tmp_path):
  """A pickled dict of wav and sid saved under an .npz name gives one DataError naming the
  file. Rules out np.load's ValueError (pickled data refused under allow_pickle=False)
  escaping unwrapped, with no file named."""
  path = tmp_path / "audio_train.npz"
  with open(path, "wb") as f:
    pickle.dump({"wav": valid_arrays()[0], "sid": valid_arrays()[1]}, f)
  expect_data_error(path)


def test_a_pickled_object_array(tmp_path):
  """An npz whose wav, or whose sid, is an object array gives one DataError naming the file.
  Rules out a try that wraps only the opening of the archive: numpy refuses an object
  member only when it is read, with its own ValueError."""
  wav, sid = valid_arrays()
  objects = np.empty(N, dtype=object)
  objects[:] = list(wav)
  expect_data_error(write_npz(tmp_path / "a.npz", wav=objects, sid=sid))
  expect_data_error(write_npz(tmp_path / "b.npz", wav=wav, sid=sid.astype(object)))


class _Marker:
  """Unpickling this writes a file: the sign that loading ran code."""
  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (open, (self.path, "w"))


def test_a_pickled_object_runs_no_code_when_loaded(tmp_path):
  """An npz whose 'sid' holds a pickled object that creates a file when
  unpickled: refused as unreadable, and the file is not created. Rules out
  loading with allow_pickle=True (the refusal would still come, from the
  dtype check, after the pickle had run whatever it holds)."""
  wav, _ = valid_arrays()
  marker = tmp_path / "ran"
  sid = np.empty(N, dtype=object)
  sid[:] = [_Marker(str(marker))] * N
  expect_data_error(write_npz(tmp_path / "a.npz", wav=wav, sid=sid), C, "cannot read")
  assert not marker.exists()


def test_a_fortran_ordered_split_reads_its_own_samples(tmp_path):
  """An uncompressed split saved from a Fortran-ordered array (np.savez
  keeps the order in the header): the clips read back are the saved ones.
  Rules out memory-mapping it as if in C order (each clip then a strided
  mix of every clip, no error)."""
  wav, sid = valid_arrays()
  path = write_npz(tmp_path / "f.npz", wav=np.asfortranarray(wav), sid=sid)
  np.testing.assert_array_equal(np.asarray(data.load_split(path, C).wav), wav)


def test_content_hash_covers_every_clip_and_sample(tmp_path):
  """``Split.content_sha1`` (what a resume checks the data against): equal
  for the same clips however many rows it reads at a time, different when
  one sample of the first or the last clip, or one label, differs. Rules
  out a hash that starts after clip 0 or skips the labels."""
  wav, sid = valid_arrays()
  base = data.Split("x", wav, sid.astype(np.int32))
  h = base.content_sha1()
  assert base.content_sha1(rows=1) == h == data.Split("y", wav.copy(), sid.astype(np.int32)).content_sha1()
  for row in (0, N - 1):
    other = wav.copy()
    other[row, 5] += np.float16(0.5)
    assert data.Split("x", other, sid.astype(np.int32)).content_sha1() != h, row
  labels = sid.astype(np.int32)
  labels[0] = (labels[0] + 1) % C
  assert data.Split("x", wav, labels).content_sha1() != h


def test_missing_key(tmp_path):
  """An npz with wav alone, and one with 'audio' and sid, each give one DataError naming the
  file and the key that is missing ("missing key 'sid'", "missing key 'wav'"). Rules out
  the absence left to the catch-all, whose numpy KeyError text ("sid is not a file in the
  archive", "no item named 'wav.npy'") never quotes the bare key, and the other key named
  as missing (both are quoted in the message's list of what is expected)."""
  wav, sid = valid_arrays()
  expect_data_error(write_npz(tmp_path / "a.npz", wav=wav), C, "missing key 'sid'")
  expect_data_error(write_npz(tmp_path / "b.npz", audio=wav, sid=sid), C, "missing key 'wav'")


# ---------------------------------------------------------------------------
# wrong content


@pytest.mark.parametrize("compressed", [False, True])
def test_wrong_dtypes(tmp_path, compressed):
  """int16 and complex64 wav, float32, bool and text sid, stored plain and compressed: each
  one DataError naming the file and the key's dtype ("'wav' has dtype int16", ...). Rules
  out a float test by np.inexact (complex64 passes), an integer test by dtype kind 'biu'
  (bool passes), and no dtype test for sid (float or text class ids accepted)."""
  wav, sid = valid_arrays()
  cases = {
      "int16_wav": (dict(wav=(wav * 32767).astype(np.int16), sid=sid), "'wav' has dtype int16"),
      "complex_wav": (dict(wav=wav.astype(np.complex64), sid=sid), "'wav' has dtype"),
      "float_sid": (dict(wav=wav, sid=sid.astype(np.float32)), "'sid' has dtype float32"),
      "bool_sid": (dict(wav=wav, sid=sid > 0), "'sid' has dtype bool"),
      "text_sid": (dict(wav=wav, sid=np.array(["bus"] * N)), "'sid' has dtype"),
  }
  for name, (arrays, fragment) in cases.items():
    expect_data_error(write_npz(tmp_path / f"{name}.npz", compressed, **arrays), C, fragment)


@pytest.mark.parametrize("compressed", [False, True])
def test_nan_and_inf_in_wav(tmp_path, compressed, monkeypatch):
  """NaN in row 3, +Inf in row 0, -Inf in row 5, a float16 overflow to Inf in row 2, and
  +-1e308 in a float64 row 4 (finite, but max - min overflows): each one DataError naming
  the row ("row 3 holds NaN or Inf", "magnitude 1e+308, beyond 8.99e+307"), stored plain
  and compressed; the same rows named when the check reads two rows at a time. Rules out a
  test by np.isnan only (Inf passes), a wrong row number (a row counted within its block:
  the real block of 64 MB holds all six rows), and finite samples past half float64's range
  accepted."""
  wav, sid = valid_arrays()
  for block_rows in (None, 2):
    if block_rows:
      monkeypatch.setattr(splits, "CHECK_BLOCK_BYTES", block_rows * wav[0].nbytes)
    for name, row, value in (("nan", 3, np.nan), ("inf", 0, np.inf), ("ninf", 5, -np.inf)):
      bad = wav.copy()
      bad[row, 17] = value
      path = write_npz(tmp_path / f"{name}.npz", compressed, wav=bad, sid=sid)
      expect_data_error(path, C, f"key 'wav' row {row} holds NaN or Inf")
  big = wav.astype(np.float32)
  big[2, 0] = 1e6  # overflows float16 to inf
  with np.errstate(over="ignore"):
    big = big.astype(np.float16)
  path = write_npz(tmp_path / "overflow.npz", compressed, wav=big, sid=sid)
  expect_data_error(path, C, "key 'wav' row 2 holds NaN or Inf")
  huge = wav.astype(np.float64)
  huge[4, :2] = 1e308, -1e308  # finite, but max - min overflows float64
  path = write_npz(tmp_path / "huge.npz", compressed, wav=huge, sid=sid)
  expect_data_error(path, C, "key 'wav' row 4 holds a sample of magnitude 1e+308, beyond 8.99e+307")


def test_mismatched_lengths(tmp_path):
  """sid of 5, 7 and 0 entries beside 6 clips: each one DataError "'sid' has n entries but
  'wav' has 6 clips". Rules out a test for too few labels only (7 passes) and a length
  check after sid.max(), which fails on the empty sid with numpy's ValueError."""
  wav, sid = valid_arrays()
  for n in (N - 1, N + 1, 0):
    sid_n = np.resize(sid, n)
    expect_data_error(write_npz(tmp_path / f"sid_{n}.npz", wav=wav, sid=sid_n), C,
                      f"'sid' has {n} entries but 'wav' has {N} clips")


def test_class_ids_out_of_range(tmp_path):
  """Class -1 (with n_classes 4 and with None), class 4 with n_classes 4, and 2**40 in an
  int64 sid: each one DataError naming the class. Rules out a bound of sid > n_classes (4
  passes), negatives refused only when n_classes is given, and sid cast to int32 before
  the check (2**40 wraps to class 0)."""
  wav, sid = valid_arrays()
  negative = sid.astype(np.int8)
  negative[2] = -1
  expect_data_error(write_npz(tmp_path / "neg.npz", wav=wav, sid=negative), C,
                    "key 'sid' holds class -1")
  expect_data_error(write_npz(tmp_path / "neg_free.npz", wav=wav, sid=negative), None,
                    "key 'sid' holds class -1")
  large = sid.copy()
  large[4] = C
  expect_data_error(write_npz(tmp_path / "large.npz", wav=wav, sid=large), C,
                    f"key 'sid' holds class {C}")
  huge = sid.astype(np.int64)
  huge[1] = 2 ** 40
  expect_data_error(write_npz(tmp_path / "huge.npz", wav=wav, sid=huge), C,
                    f"key 'sid' holds class {2 ** 40}")


def test_class_id_beyond_int32_with_classes_from_the_data(tmp_path):
  """n_classes=0 (count them from the data, the default): a class id that does
  not fit the int32 the trainer uses must not wrap around to a valid class."""
  wav, sid = valid_arrays()
  huge = sid.astype(np.int64)
  huge[1] = 2 ** 32 + 1  # int32 would make it class 1
  path = write_npz(tmp_path / "audio_train.npz", wav=wav, sid=huge)
  expect_data_error(path, None, f"key 'sid' holds class {2 ** 32 + 1}")
  with pytest.raises(DataError) as err:
    data.open_dataset(str(tmp_path), 0)
  assert path in str(err.value)


def test_wrong_ranks(tmp_path):
  """wav of rank 1, 3 and 0, and sid of rank 2 and 0: each one DataError giving the key's
  shape ("'wav' has shape (1536,)", ...). Rules out a wav test of ndim < 2 only (rank 3
  passes) and no sid rank test (a [6, 1] sid loads; a 0-d one fails in sid.shape[0] with
  an IndexError)."""
  wav, sid = valid_arrays()
  cases = {
      "wav_1d": (dict(wav=wav.reshape(-1), sid=sid), "'wav' has shape (1536,)"),
      "wav_3d": (dict(wav=wav.reshape(N, 2, T // 2), sid=sid), "'wav' has shape (6, 2, 128)"),
      "wav_0d": (dict(wav=np.float16(0.5), sid=sid), "'wav' has shape ()"),
      "sid_2d": (dict(wav=wav, sid=sid.reshape(N, 1)), "'sid' has shape (6, 1)"),
      "sid_0d": (dict(wav=wav, sid=np.uint8(1)), "'sid' has shape ()"),
  }
  for name, (arrays, fragment) in cases.items():
    expect_data_error(write_npz(tmp_path / f"{name}.npz", **arrays), C, fragment)


@pytest.mark.parametrize("wav_shape, sid_len, fragment", [
    ((0, T), 0, "empty split (key 'wav' holds no clips)"),   # no clips
    ((0, 0), 0, "empty split (key 'wav' holds no clips)"),   # nothing at all
    ((N, 0), N, "key 'wav' has clips of 0 samples; expected audio"),  # nothing to train on
], ids=["no_clips", "nothing", "no_samples"])
def test_empty_arrays(tmp_path, wav_shape, sid_len, fragment):
  """wav of [0, 256] or [0, 0] with an empty sid is "empty split (key 'wav' holds no clips)";
  wav of [6, 0] is "clips of 0 samples". Rules out the empty sid reaching sid.max() (its
  numpy ValueError escapes), clips of no samples accepted, and [0, 0] reported as clips of
  0 samples."""
  arrays = dict(wav=np.zeros(wav_shape, np.float16), sid=np.zeros(sid_len, np.uint8))
  expect_data_error(write_npz(tmp_path / "empty.npz", **arrays), C, fragment)


# ---------------------------------------------------------------------------
# through train.py


def tiny_flags():
  return ["--config", os.path.join(REPO, "configs", "tiny.py"), "--config.dim=16",
          "--config.n_rnn=1", "--config.emb_size=8", "--config.seq_len=64",
          "--config.batch_size=4", "--config.max_steps=2"]


def assert_one_error_line(proc, *fragments):
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1, proc.stderr[-3000:]
  for fragment in fragments:
    assert fragment in errors[0], errors[0]


@pytest.mark.parametrize("damage", ["truncated_train", "nan_in_valid"])
def test_bad_data_through_train_py(tmp_path, damage):
  """train.py on a data_dir whose train npz is cut in half, or whose valid split holds a NaN
  in row 4: exit code 2, no traceback, exactly one "error:" line naming the file and the
  fault, before the workdir is made. Rules out a DataError escaping train.py's entry point as
  a traceback (exit 1), the fault reported twice, and the valid split left unchecked while
  training runs (found at the first evaluation: the same line, after steps and checkpoints)."""
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  for i, split in enumerate(data.SPLITS):
    wav, sid = valid_arrays(i)
    write_npz(data_dir / f"audio_{split}.npz", wav=wav, sid=sid)
  train, valid = data.split_path(str(data_dir), "train"), data.split_path(str(data_dir), "valid")
  if damage == "truncated_train":
    with open(train, "rb") as f:
      blob = f.read()
    with open(train, "wb") as f:
      f.write(blob[:len(blob) // 2])
    expected = (train, "cannot read as an npz file")
  else:
    wav, sid = valid_arrays(1)
    wav[4, 100] = np.nan
    write_npz(valid, wav=wav, sid=sid)
    expected = (valid, "key 'wav' row 4 holds NaN or Inf")
  proc = subprocess.run(
      [sys.executable, os.path.join(REPO, "train.py"), *tiny_flags(),
       f"--config.data_dir={data_dir}", f"--workdir={tmp_path / 'run'}"],
      cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
  assert_one_error_line(proc, *expected)
  assert not (tmp_path / "run").exists()  # refused at the data's opening: nothing trained


# ---------------------------------------------------------------------------
# --prime WAVs


def write_wav(path, audio, rate=RATE, subtype="FLOAT"):
  sf.write(str(path), audio, rate, subtype=subtype)
  return str(path)


def read_prime(path):
  return sample_files.read_prime(str(path), RATE, "linear", 256)


def test_prime_valid_control(tmp_path):
  """The control for test_bad_prime: a 400-sample mono float WAV at 16 kHz reads as 400
  levels within 0 .. 255. Rules out a good prime refused (e.g. a channel check that counts
  soundfile's [T, 1] frames as more than mono) and [T, 1] returned instead of [T]."""
  path = write_wav(tmp_path / "ok.wav", 0.5 * np.sin(np.arange(400) / 10.0))
  levels = read_prime(path)
  assert levels.shape == (400,) and levels.min() >= 0 and levels.max() < 256


@pytest.mark.parametrize("case, fragment", [
    ("rate", "sample rate 8000 Hz; expected 16000 Hz"),
    ("stereo", "2 channels; expected mono"),
    ("empty", "empty (no samples)"),
    ("nan", "holds NaN or Inf"),
    ("huge", "holds a sample of magnitude 1e+308; expected at most 8.99e+307"),
    ("text", "not a readable audio file"),
    ("zero_bytes", "not a readable audio file"),
    ("truncated_header", "not a readable audio file"),
])
def test_bad_prime(tmp_path, case, fragment):
  """Primes at 8 kHz, stereo, empty, with a NaN, with a 1e308 float64 sample, of text, of
  zero bytes, and with a header cut at 20 bytes: each exactly a ValueError starting
  "prime=<path>: " and naming the fault. Rules out soundfile's LibsndfileError (a
  RuntimeError) escaping, a stereo, 8 kHz or 1e308 prime accepted, and a NaN prime left
  to quantize, whose ValueError does not name the prime."""
  path = tmp_path / f"{case}.wav"
  tone = 0.3 * np.sin(np.arange(800) / 7.0)
  if case == "rate":
    write_wav(path, tone, rate=8000)
  elif case == "stereo":
    write_wav(path, np.stack([tone, tone], 1))
  elif case == "empty":
    write_wav(path, np.zeros((0, 1)))
  elif case == "nan":
    write_wav(path, np.where(np.arange(800) == 99, np.nan, tone))
  elif case == "huge":  # a float64 WAV quantize cannot min-max
    write_wav(path, np.where(np.arange(800) == 99, 1e308, tone), subtype="DOUBLE")
  elif case == "text":
    path.write_bytes(b"this is not audio at all\n" * 20)
  elif case == "zero_bytes":
    path.write_bytes(b"")
  else:
    write_wav(path, tone)
    path.write_bytes(path.read_bytes()[:20])
  with pytest.raises(ValueError) as err:
    read_prime(path)
  assert type(err.value) is ValueError
  msg = str(err.value)
  assert msg.startswith(f"prime={path}: ") and fragment in msg, msg


def test_missing_prime(tmp_path):
  """A prime path with no file is a FileNotFoundError "prime=<path>: no such file". Rules out
  the missing file reported as "not a readable audio file" (the ValueError made of
  soundfile's failure), which hides that the path is wrong, and a message without the
  path as given."""
  with pytest.raises(FileNotFoundError,
                     match=rf"^prime={re.escape(str(tmp_path / 'nowhere.wav'))}: no such file$"):
    read_prime(tmp_path / "nowhere.wav")


def make_untrained_workdir(workdir, meta_n_classes=True, config_n_classes=0):
  """A checkpoint of a tiny untrained model (zeros), written without training;
  the class count in its meta (or not) and in its config (0: not)."""
  config = load_config_file(os.path.join(REPO, "configs", "tiny.py"))
  config.update(dict(dim=16, n_rnn=1, emb_size=8, seq_len=64, batch_size=4,
                     n_classes=config_n_classes))
  model = config_lib.build_model(config, C)
  shapes = steps.abstract_params(model, config.seq_len)
  params = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
  meta = {"step": 0, "config": config.to_dict(), "class_names": [f"c{i}" for i in range(C)]}
  if meta_n_classes:
    meta["n_classes"] = C
  ckpts = checkpoint.Checkpoints(str(workdir))
  ckpts.save(checkpoint.LATEST, 0, {"params": params}, meta)
  ckpts.close()


def test_the_class_count_comes_from_the_meta_else_the_config(tmp_path):
  """A checkpoint whose meta has no n_classes loads with its config's
  n_classes (as score.py always did), and one with neither is refused
  naming the checkpoint and both places; the loaded checkpoint's repr is a
  line, not its parameters. Rules out a bare KeyError('n_classes') from
  load_checkpoint (a library user's own save) and a repr a notebook prints
  as every weight."""
  make_untrained_workdir(tmp_path / "config", meta_n_classes=False, config_n_classes=C)
  loaded = sample_files.load_checkpoint(str(tmp_path / "config"))
  assert loaded.model.n_classes == C
  line = repr(loaded)
  assert len(line) < 300 and "step 0" in line and "checkpoints/0" in line, line
  make_untrained_workdir(tmp_path / "neither", meta_n_classes=False)
  with pytest.raises(ParamFormatError, match=r"neither/checkpoints/0: the meta has no "
                     r"n_classes and its config.n_classes is 0"):
    sample_files.load_checkpoint(str(tmp_path / "neither"))


def test_bad_prime_through_sample_py(tmp_path):
  """sample.py with a stereo --prime on an untrained checkpoint: exit code 2, no traceback,
  one "error: prime=<path>: 2 channels; expected mono" line, and no file in --out. Rules
  out the ValueError escaping as a traceback (exit 1) and sample files written before the
  prime is checked."""
  workdir = tmp_path / "run"
  make_untrained_workdir(workdir)
  prime = write_wav(tmp_path / "stereo.wav", np.zeros((800, 2)))
  out = tmp_path / "samples"
  proc = subprocess.run(
      [sys.executable, os.path.join(REPO, "sample.py"), "--workdir", str(workdir),
       "--prime", prime, "--out", str(out), "--per_class", "1", "--seconds", "0.01",
       "--no_progress"],
      cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
  assert_one_error_line(proc, f"error: prime={prime}: 2 channels; expected mono")
  assert not out.exists() or not os.listdir(out)
