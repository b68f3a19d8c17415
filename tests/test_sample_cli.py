"""End-to-end tests of sample.py on a tiny checkpoint.

One checkpoint per module: ``train.py --config configs/tiny.py`` for 4 steps
at dim 16 on the synthetic data (classes tone, rumble, chirp, clicks). Then
sample.py runs with a user's flags, through its ``main`` in this process
(the script's flag parsing and error lines, without a start-up per run) or
as a subprocess where the script itself is the point (the default run,
signals in a stream, two refusals): the WAVs and manifest.json
it writes, class selection by name and index, mixes, priming, streaming
(including Ctrl-C in the middle of a stream), and every refused input: exit
code 2, one clear message, and the files already in the output folder left
byte for byte as they were.
"""
import contextlib
import errno
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
import soundfile as sf
from absl import logging as absl_logging

from conftest import REPO, load_sample_py, snapshot, subprocess_env
from samplernn_jax import quantize as quant
from samplernn_jax import files, sample_files, sampling
from samplernn_jax import workdir as workdir_lib
from samplernn_jax.errors import WorkdirError

SR = 16000
CLASSES = ["tone", "rumble", "chirp", "clicks"]  # synthetic.CLASS_NAMES
STEP = 4
PEAK = 0.475
WAV_HEADER = 80  # bytes before the data of soundfile's float WAV (measured)


def run_sample(*args, child=False, timeout=240):
  """sample.py with these flags, as a CompletedProcess (returncode, stdout,
  stderr). In this process by default: sample.py's ``main``, the same
  absl_main, flag parsing and error lines as the script, without a Python
  start-up per run, and the sampler compiled once per worker. ``child``: as
  a subprocess, which also runs the script's own ``app.run`` wiring."""
  argv = ["--no_progress", *map(str, args)]
  if child:
    return subprocess.run([sys.executable, "sample.py", *argv], cwd=REPO,
                          env=subprocess_env(), capture_output=True, text=True,
                          timeout=timeout)
  out, err, code = io.StringIO(), io.StringIO(), 0
  log = absl_logging.get_absl_handler().python_handler  # its log lines are stderr's too
  log_before, log.stream = log.stream, err
  try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      load_sample_py().main(argv)
  except SystemExit as e:
    code = e.code or 0
  finally:
    log.stream = log_before
  return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def ok(proc):
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def read(path):
  """(float32 audio, soundfile info) of a WAV."""
  audio, rate = sf.read(path, dtype="float32")
  assert rate == SR
  return audio, sf.info(path)


def manifest(folder):
  with open(os.path.join(folder, "manifest.json")) as f:
    return json.load(f)



def levels(audio, q_levels=256):
  """Linear levels back from dequantised audio (``--normalize none``)."""
  return np.round((audio.astype(np.float64) + 1.0) * (q_levels / 2) - 0.5).astype(np.int32)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  """A run folder with a 4-step checkpoint (best/4) of the tiny config at dim 16."""
  w = str(tmp_path_factory.mktemp("run"))
  proc = subprocess.run(
      [sys.executable, "train.py", "--config", "configs/tiny.py", "--workdir", w,
       "--config.max_steps=4", "--config.eval_every_steps=4", "--config.dim=16",
       "--config.seq_len=64", "--config.max_eval_clips=2"],
      cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert os.path.isdir(os.path.join(w, "best", str(STEP)))
  return w


@pytest.fixture(scope="module")
def filled(workdir, tmp_path_factory):
  """An output folder holding one earlier run's clips: tone_000, rumble_000."""
  out = str(tmp_path_factory.mktemp("filled"))
  ok(run_sample("--workdir", workdir, "--out", out, "--classes", "tone,rumble",
                "--per_class", 1, "--seconds", 0.1))
  assert sorted(os.listdir(out)) == ["manifest.json", "model.json", "rumble_000.wav",
                                     "tone_000.wav"]
  return out


# ---------------------------------------------------------------------------
# What a run writes.


def test_default_run_writes_clips_and_manifest(workdir):
  """Every class, 2 clips each, 0.25 s: files, format, length, level, manifest,
  model.json. The default level puts each clip at the median RMS of its
  class's training clips, as recorded in the checkpoint (rules out the
  paper's min-max, and one level for every class)."""
  proc = ok(run_sample("--workdir", workdir, "--per_class", 2, "--seconds", 0.25,
                       "--seed", 3, "--temperature", 0.9, child=True))
  out = os.path.join(workdir, "samples", str(STEP))  # the default --out
  assert out in proc.stdout
  files = [f"{c}_{i:03d}.wav" for c in CLASSES for i in range(2)]
  assert sorted(os.listdir(out)) == sorted(files + ["manifest.json", "model.json"])
  class_rms = sample_files.load_checkpoint(workdir).class_rms
  assert len(class_rms) == 4 and len(set(class_rms)) == 4  # the synthetic classes differ
  clips = {}
  for f in files:
    audio, info = read(os.path.join(out, f))
    assert (info.channels, info.frames, info.subtype) == (1, 4000, "FLOAT")
    want = class_rms[CLASSES.index(f.rsplit("_", 1)[0])]
    centred = audio.astype(np.float64) - audio.mean()
    assert np.sqrt((centred ** 2).mean()) == pytest.approx(want, rel=1e-4)
    clips[f] = audio
  assert not np.array_equal(clips["tone_000.wav"], clips["tone_001.wav"])
  records = manifest(out)
  assert [r["file"] for r in records] == files
  for r in records:
    name = r["file"].rsplit("_", 1)[0]
    assert r["class"] == name and r["class_index"] == CLASSES.index(name)
    assert r["mix"] is None
    assert (r["seed"], r["temperature"], r["step"], r["seconds"]) == (3, 0.9, STEP, 0.25)
  with open(os.path.join(out, "model.json")) as f:
    model = json.load(f)
  assert (model["step"], model["level"], model["temperature"]) == (STEP, "class", 0.9)
  assert model["config"]["dim"] == 16 and model["class_rms"] == class_rms


def test_paper_level_is_one_flag_away(workdir, tmp_path):
  """--level minmax: each clip (one a class, in --out) rescaled to exactly
  [-0.475, 0.475] (the paper). Rules out the flag ignored (the class level)
  and clips written elsewhere than --out (then none would be checked)."""
  ok(run_sample("--workdir", workdir, "--out", tmp_path, "--per_class", 1,
                "--seconds", 0.25, "--level", "minmax"))
  wavs = sorted(f for f in os.listdir(tmp_path) if f.endswith(".wav"))
  assert wavs == sorted(f"{c}_000.wav" for c in CLASSES)
  for f in wavs:
    audio, _ = read(os.path.join(tmp_path, f))
    assert audio.max() == pytest.approx(PEAK, abs=1e-6)
    assert audio.min() == pytest.approx(-PEAK, abs=1e-6)


def test_classes_by_name_and_index(workdir, tmp_path):
  """--classes 'tone,1,clicks' (names and an index mixed) writes one 0.25 s clip each of tone,
  rumble (index 1) and clicks, named by class, and a manifest listing them with indices 0, 1
  and 3. Rules out an index taken as a class name (refused as unknown) or counted from 1 (a
  second tone), and files named by index."""
  out = str(tmp_path / "o")
  ok(run_sample("--workdir", workdir, "--out", out, "--classes", "tone,1,clicks",
                "--per_class", 1, "--seconds", 0.25))
  assert sorted(os.listdir(out)) == ["clicks_000.wav", "manifest.json", "model.json",
                                     "rumble_000.wav", "tone_000.wav"]
  records = manifest(out)
  assert [(r["file"], r["class"], r["class_index"]) for r in records] == [
      ("tone_000.wav", "tone", 0), ("rumble_000.wav", "rumble", 1),
      ("clicks_000.wav", "clicks", 3)]
  for r in records:
    assert read(os.path.join(out, r["file"]))[1].frames == 4000


def test_file_names_keep_a_class_names_letters_in_any_script():
  """A clip's file name keeps the letters of its class name, whatever the
  script; spaces and path separators become one ``_``. Rules out the
  ASCII-only names that wrote ``caf_terrace_000.wav`` for 'café terrace'
  and ``__000.wav`` for each of two classes '雨' and '風' (only the manifest
  told them apart), and a class name that writes outside --out."""
  assert sample_files.safe_name("café terrace") == "café_terrace"
  assert sample_files.safe_name("cafe\u0301 terrace") == "café_terrace"  # the accent as a mark
  assert [sample_files.safe_name(n) for n in ("雨", "風")] == ["雨", "風"]
  assert sample_files.safe_name("city/centre  at.night-2") == "city_centre_at.night-2"
  request = sample_files.make_request(["雨", "風"], None, 1, None)
  assert sample_files.file_names(request) == ["雨_000.wav", "風_000.wav"]


def test_class_names_match_in_either_unicode_form_and_case_blind_file_names_differ(tmp_path):
  """A class name typed in a terminal (``café``, one code point) names the
  class whose folder name came from macOS' Finder (``cafe`` and a combining
  accent), in --classes, --mix and a manifest evaluate.py reads; classes
  whose names differ only in case (``Rain``, ``rain``) get file names that
  differ on a case-blind filesystem. Rules out comparing the code points
  as given ("unknown class 'café'; the model knows café") and numbering
  per exact label (both clips ``..._000.wav``: one file on macOS or
  Windows, the second clip written over the first); the forms merged
  where two classes' names differ only in form (the second unreachable by
  name, in --classes or a manifest); and file names listed in the other form
  (macOS' HFS+ lists NFD) unknown to evaluate.py without a manifest."""
  from samplernn_jax.evaluation import samples as eval_samples
  names = ["cafe\u0301", "Rain", "rain"]
  assert sample_files.parse_classes("café", names) == [0]
  assert sample_files.parse_mix("café:1,rain:1", names).tolist() == [0.5, 0, 0.5]
  files = sample_files.file_names(sample_files.make_request(names, "Rain,rain", 1, None))
  assert files == ["Rain_000.wav", "rain_001.wav"]
  both = ["café", "cafe\u0301"]  # two classes whose names differ only in form (Linux)
  assert [sample_files.parse_classes(n, both) for n in both] == [[0], [1]]
  for written in ("café", "cafe\u0301"):  # a manifest's class in either form
    with open(tmp_path / "manifest.json", "w", encoding="utf-8") as f:
      json.dump([{"file": "café_000.wav", "class": written, "class_index": 0},
                 {"file": "x.wav", "class": written}], f)
    for data_names in (names, ["café", "Rain", "rain"]):  # data_dir's in either form
      got = eval_samples._from_manifest(str(tmp_path), data_names, True, [])
      assert [c for _, c, _ in got] == [0, 0]
  with open(tmp_path / "manifest.json", "w", encoding="utf-8") as f:  # twins by name only
    json.dump([{"file": "a.wav", "class": n} for n in both], f)
  assert [c for _, c, _ in eval_samples._from_manifest(str(tmp_path), both, True, [])] == [0, 1]
  nfd_files = ["cafe\u0301 terrace_000.wav", "cafe\u0301_terrace_001.wav", "Rain_002.wav"]
  got = eval_samples._from_file_names(str(tmp_path), nfd_files, ["café terrace", "Rain"])
  assert [c for _, c, _ in got] == [0, 0, 1]  # listed by macOS' HFS+ in NFD


def test_a_class_index_one_past_the_last_is_refused():
  """``--classes N`` with N the class count (one past the last index) and
  ``--mix N:1``: a ValueError naming it and the indices there are, before
  anything is generated. Rules out a bound of ``<=`` (an index past the
  class table: a clip of no class, or an IndexError deep in the sampler)."""
  last = str(len(CLASSES) - 1)
  assert sample_files.parse_classes(last, CLASSES) == [len(CLASSES) - 1]
  past = str(len(CLASSES))
  for parse, spec in ((sample_files.parse_classes, past), (sample_files.parse_mix, past + ":1")):
    with pytest.raises(ValueError, match=rf"unknown class '{past}'; the model knows .* \(or "
                       rf"indices 0 \.\. {last}\)$"):
      parse(spec, CLASSES)


@pytest.mark.parametrize("spec", [",", " , ", ",,"])
def test_classes_that_name_no_class_are_refused(spec):
  """--classes of commas and spaces only: a ValueError naming the setting
  (sample.py prints it as one error line, before anything is written); a
  stray comma beside a name is still that name. Rules out a run that writes
  0 clips, reports success and, with --overwrite, deletes the earlier clips."""
  with pytest.raises(ValueError, match=rf"^classes={spec!r}: names no class"):
    sample_files.parse_classes(spec, CLASSES)
  assert sample_files.parse_classes(spec + "chirp", CLASSES) == [2]


@pytest.mark.parametrize("spec", ["tone,tone", "tone,0", "chirp, tone ,chirp"])
def test_a_class_named_twice_is_refused(spec):
  """--classes naming one class twice (by name, or by name and index): a
  ValueError naming it and pointing at --per_class. Rules out two clips of
  it written as <class>_000 and _001 without a word, which a user meaning
  two different classes would not notice."""
  with pytest.raises(ValueError, match=rf"^classes={spec!r}: names '\w+' twice; more "
                     "clips of a class come from per_class"):
    sample_files.parse_classes(spec, CLASSES)
  assert sample_files.parse_classes("chirp,tone", CLASSES) == [2, 0]


def test_seconds_below_one_sample_are_refused(workdir, tmp_path):
  """--seconds that round to no sample at the model's rate: a ValueError
  naming the setting and the least length, from write_samples and
  stream_samples too, before either makes the output folder; half a sample
  rounds to none, one sample passes. Rules out the 'need at least one array
  to concatenate' a tiny --seconds gave after the folder was made (and the
  empty WAVs of --stream), and the check made without the model's rate."""
  with pytest.raises(ValueError, match=r"^seconds=1e-05: less than one sample at 16000 Hz; "
                     r"expected at least 6.25e-05"):
    sample_files.check_seconds(1e-5, SR)
  with pytest.raises(ValueError, match="less than one sample"):
    sample_files.check_seconds(0.5 / SR, SR)
  sample_files.check_seconds(1 / SR, SR)
  loaded = sample_files.load_checkpoint(workdir)
  req = sample_files.make_request(loaded.class_names, "tone", 1, None)
  out = tmp_path / "o"
  for run in (sample_files.write_samples, sample_files.stream_samples):
    with pytest.raises(ValueError, match="^seconds=1e-05: less than one sample at 16000 Hz"):
      run(loaded, str(out), req, 1e-5, progress=False)
    assert not out.exists(), run.__name__


def test_mix_is_the_library_generation_with_the_mixed_vector(workdir, tmp_path):
  """--mix tone:1,rumble:3 equals sampling.generate with [0.25, 0.75, 0, 0],
  and the manifest records the weights used (renormalised to sum to 1), not
  the ones given: rules out a record of 'tone:1,rumble:3' for the clips of
  'tone:0.25,rumble:0.75' (which it is)."""
  out = str(tmp_path / "o")
  ok(run_sample("--workdir", workdir, "--out", out, "--mix", "tone:1,rumble:3",
                "--per_class", 2, "--seconds", 0.25, "--seed", 5, "--normalize", "none"))
  records = manifest(out)
  assert [r["file"] for r in records] == ["mix_000.wav", "mix_001.wav"]
  for r in records:
    assert (r["class"], r["class_index"], r["mix"]) == (None, None, "tone:0.25,rumble:0.75")
    assert (r["seed"], r["seconds"]) == (5, 0.25)
  got = np.stack([read(os.path.join(out, r["file"]))[0] for r in records])
  loaded = sample_files.load_checkpoint(workdir)
  vec = np.array([[0.25, 0.75, 0.0, 0.0]] * 2, np.float32)
  q, _ = sampling.generate(loaded.model, loaded.params, vec, 4000, jax.random.key(5),
                           sample_files.DEFAULT_TEMPERATURE)
  np.testing.assert_array_equal(got, sampling.to_audio(q, "linear", 256, "none"))


def test_seed_and_temperature_reach_the_audio(workdir, tmp_path):
  """--seed and --temperature change the audio as the library's generation
  with that key and temperature does: --temperature 0.5 --seed 2 equals
  sampling.generate(T=0.5, key 2), and --temperature 0 the argmax draw
  (rules out flags recorded in the manifest but not passed to the sampler,
  e.g. the default temperature used whatever was asked)."""
  loaded = sample_files.load_checkpoint(workdir)
  vec = np.eye(4, dtype=np.float32)[[0]]  # tone
  for temperature, seed in ((0.5, 2), (0.0, 2)):
    out = str(tmp_path / f"t{temperature}")
    ok(run_sample("--workdir", workdir, "--out", out, "--classes", "tone", "--per_class", 1,
                  "--seconds", 0.25, "--seed", seed, "--temperature", temperature,
                  "--level", "none"))
    got = read(os.path.join(out, "tone_000.wav"))[0]
    q, _ = sampling.generate(loaded.model, loaded.params, vec, 4000, jax.random.key(seed),
                             temperature)
    np.testing.assert_array_equal(got, sampling.to_audio(q, "linear", 256, "none")[0])
    q_default, _ = sampling.generate(loaded.model, loaded.params, vec, 4000,
                                     jax.random.key(seed), sample_files.DEFAULT_TEMPERATURE)
    assert not np.array_equal(q, q_default)  # the flag made a difference


def test_prime_is_continued(workdir, tmp_path):
  """Output = prime + seconds; its first samples are the prime's quantisation,
  the rest the library's generation forced through the prime
  (``sampling.generate(forced=...)``, same key and temperature); the
  manifest says how long the prime is, and the evaluation reads only what
  follows it. Rules out a continuation generated without the prime (pasted
  after it) and evaluate.py scoring the real recording a primed clip begins
  with (its first 5 s window) as generated audio."""
  n_prime = 1000  # not a multiple of the frame size
  t = np.arange(n_prime) / SR
  prime = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 97 * t)
  path = str(tmp_path / "prime.wav")
  sf.write(path, prime, SR, subtype="FLOAT")
  out = str(tmp_path / "o")
  ok(run_sample("--workdir", workdir, "--out", out, "--prime", path, "--classes", "tone,chirp",
                "--per_class", 1, "--seconds", 0.25, "--normalize", "none", "--seed", 3))
  expected = quant.quantize(sf.read(path)[0], "linear", 256)
  loaded = sample_files.load_checkpoint(workdir)
  vec = np.eye(4, dtype=np.float32)[[loaded.class_names.index(c) for c in ("tone", "chirp")]]
  q, _ = sampling.generate(loaded.model, loaded.params, vec, n_prime + 4000, jax.random.key(3),
                           sample_files.DEFAULT_TEMPERATURE, np.repeat(expected[None], 2, 0))
  want = sampling.to_audio(q, "linear", 256, "none")
  for i, r in enumerate(manifest(out)):
    assert r["seconds"] == (n_prime + 4000) / SR
    audio, info = read(os.path.join(out, r["file"]))
    assert info.frames == n_prime + 4000
    np.testing.assert_array_equal(levels(audio[:n_prime]), expected)
    np.testing.assert_array_equal(audio, want[i])
    # The continuation is generated, not a copy of the prime.
    assert np.std(audio[n_prime:]) > 0
    assert r["prime_seconds"] == n_prime / SR
  # the prime made a difference: without it, the same key draws other samples
  q_free, _ = sampling.generate(loaded.model, loaded.params, vec, n_prime + 4000,
                                jax.random.key(3), sample_files.DEFAULT_TEMPERATURE)
  assert not np.array_equal(q_free[:, n_prime:], q[:, n_prime:])
  from samplernn_jax.evaluation import samples as samples_lib
  names = loaded.class_names
  clips, notes = samples_lib.read_samples(out, names, SR)
  for clip in clips:
    np.testing.assert_array_equal(clip.wav, read(clip.path)[0][n_prime:])
  assert any("2 clip(s) begin with a --prime recording" in n for n in notes), notes


def test_a_primed_clip_keeps_the_recordings_scale(workdir, tmp_path):
  """``--prime`` of a quiet recording with a DC offset (RMS 0.002 around
  0.01), no ``--level``: each clip begins with the recording itself, within
  half a level of its range, the continuation stays within its min and max,
  and model.json says level 'prime'; ``--stream`` writes the same samples
  (the level is known before the end). ``--level class`` still plays the whole
  clip at its class's RMS; a constant prime is refused under 'prime' in one
  line (exit 2) naming the way out. Rules out the old default, which
  re-levelled prime and continuation together (a quiet prime came back about
  10 dB louder, and the continuation missed the class level too)."""
  rng = np.random.default_rng(1)
  prime = 0.01 + 0.002 * rng.standard_normal(800)
  path = str(tmp_path / "quiet.wav")
  sf.write(path, prime, SR, subtype="FLOAT")
  x = sf.read(path)[0]
  lo, hi = x.min(), x.max()
  common = ["--workdir", workdir, "--prime", path, "--classes", "tone", "--per_class", 1,
            "--seconds", 0.1]
  out = str(tmp_path / "kept")
  ok(run_sample(*common, "--out", out))
  audio, _ = read(os.path.join(out, manifest(out)[0]["file"]))
  assert np.abs(audio[:800] - x).max() <= (0.5 / 256 + 1e-6) * (hi - lo)
  assert audio.min() >= lo - 1e-6 and audio.max() <= hi + 1e-6
  with open(os.path.join(out, "model.json")) as f:
    assert json.load(f)["level"] == "prime"
  streamed = str(tmp_path / "streamed")  # known before the end: a stream's default too
  ok(run_sample(*common, "--out", streamed, "--stream"))
  np.testing.assert_array_equal(read(os.path.join(streamed, manifest(out)[0]["file"]))[0], audio)
  with open(os.path.join(streamed, "model.json")) as f:
    assert json.load(f)["level"] == "prime"
  loud = str(tmp_path / "class")
  ok(run_sample(*common, "--out", loud, "--level", "class"))
  audio, _ = read(os.path.join(loud, manifest(loud)[0]["file"]))
  rms = sample_files.load_checkpoint(workdir).class_rms[CLASSES.index("tone")]
  got = np.sqrt(np.mean((audio - audio.mean()) ** 2))  # the class's RMS, or turned down to fit
  assert got == pytest.approx(rms, rel=1e-4) or (
      got < rms and np.abs(audio).max() == pytest.approx(1.0, abs=1e-6))
  flat = str(tmp_path / "flat.wav")
  sf.write(flat, np.full(800, 0.1), SR, subtype="FLOAT")
  proc = run_sample("--workdir", workdir, "--prime", flat, "--out", str(tmp_path / "f"))
  assert proc.returncode == 2
  assert [l for l in proc.stderr.splitlines() if l.startswith("error:")] == [
      "error: level 'prime': the prime recording is constant (0.1), so it gives no scale "
      "to continue at; choose another level, e.g. class"]
  assert not os.path.exists(tmp_path / "f")


def test_stream_equals_non_stream(workdir, tmp_path):
  """Same seed and --prime, --normalize none: streamed (blocks of 1 s) and
  whole-clip runs write the same samples and manifest (prime_seconds
  included). Rules out a stream that ignores the prime or records it
  otherwise (test_prime_is_continued checks the whole-clip run's prime)."""
  prime = str(tmp_path / "prime.wav")
  sf.write(prime, 0.3 * np.sin(np.arange(700) / 5.0), SR, subtype="FLOAT")
  common = ["--workdir", workdir, "--classes", "tone,clicks", "--per_class", 1,
            "--seconds", 1.25, "--seed", 7, "--normalize", "none", "--prime", prime]
  a, b = str(tmp_path / "a"), str(tmp_path / "b")
  ok(run_sample(*common, "--out", a, "--stream"))
  ok(run_sample(*common, "--out", b))
  assert sorted(os.listdir(a)) == sorted(os.listdir(b))
  assert manifest(a) == manifest(b)
  for r in manifest(a):
    x, info = read(os.path.join(a, r["file"]))
    y, _ = read(os.path.join(b, r["file"]))
    assert info.frames == 700 + 20000 and r["prime_seconds"] == 700 / SR
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_stream_leaves_whole_blocks(workdir, tmp_path, sig):
  """Ctrl-C or SIGTERM during a 600 s stream: valid WAVs of a whole number of
  1 s blocks, exit 128 + the signal. The signal is a flag checked between
  blocks, so it cannot be swallowed where it lands (rules out the
  KeyboardInterrupt lost in a garbage-collection callback, which left the
  stream running)."""
  out = str(tmp_path / "o")
  files = [os.path.join(out, f) for f in ("tone_000.wav", "rumble_000.wav")]
  # Under a shell's background job SIGINT is ignored, and a child would inherit
  # that (Python then installs no KeyboardInterrupt handler). A handled signal
  # is reset to the default in the child: handle it here while starting it.
  old = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    proc = subprocess.Popen(
        [sys.executable, "sample.py", "--no_progress", "--workdir", workdir, "--out", out,
         "--classes", "tone,rumble", "--per_class", "1", "--seconds", "600", "--stream"],
        cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
  finally:
    signal.signal(signal.SIGINT, old)
  try:
    deadline = time.time() + 240
    while not all(os.path.exists(f) and os.path.getsize(f) >= WAV_HEADER + 4 * SR
                  for f in files):
      assert proc.poll() is None, proc.communicate()[1][-3000:]
      assert time.time() < deadline, "no block written within 240 s"
      time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
      proc.wait()
  assert proc.returncode == 128 + int(sig), err[-2000:]
  assert "interrupted; streamed files hold every block" in err
  records = {r["file"]: r for r in manifest(out)}
  for f in files:
    audio, info = read(f)
    assert info.subtype == "FLOAT"
    assert len(audio) > 0 and len(audio) % SR == 0, (f, len(audio), err[-2000:])
    assert len(audio) < 600 * SR
    # the manifest was rewritten to what the file holds (not the 600 s asked)
    assert records[os.path.basename(f)]["seconds"] == len(audio) / SR


@pytest.mark.parametrize("stream, says", [
    (True, "interrupted; streamed files hold every block finished so far"),
    (False, "interrupted; without --stream no clip is written until every clip is generated")])
def test_ctrl_c_message_says_what_was_kept(tmp_path, monkeypatch, capsys, stream, says):
  """Ctrl-C during generation: exit 130 and a line that says what is on disk,
  which depends on --stream. Rules out the streaming message (files holding
  finished blocks) printed for a run that writes nothing until the end."""
  sample_py = load_sample_py()

  def interrupted():
    raise KeyboardInterrupt
  monkeypatch.setattr(sample_py, "_sample", interrupted)
  with pytest.raises(SystemExit) as e:
    sample_py.main(["--workdir", str(tmp_path), f"--stream={stream}"])
  assert e.value.code == 130
  assert says in capsys.readouterr().err


def test_stream_interrupted_between_clips_keeps_clips_equal(workdir, tmp_path, monkeypatch):
  """Ctrl-C arriving while the first clip's block is being written (during
  the flush of clip 0, before clip 1 is written) must not leave clips of
  different lengths: every clip holds every block finished so far (the
  promise of stream_samples): here both hold the first block, one second.
  In-process, with a real SIGINT sent to this process from inside the first
  flush, so that the timing is certain. Rules out the interrupt taken
  inside the write loop (clip 0 one block longer than clip 1), and the
  finished block dropped from every clip (both empty)."""
  loaded = sample_files.load_checkpoint(workdir)
  req = sample_files.make_request(loaded.class_names, "tone,rumble", 1, None)
  real_flush = sf.SoundFile.flush
  calls = []

  def flush_and_ctrl_c(self):
    real_flush(self)
    calls.append(self.name)
    if len(calls) == 1:
      os.kill(os.getpid(), signal.SIGINT)
      time.sleep(0.05)  # the handler runs here (or in the sleep, interrupted)

  monkeypatch.setattr(sf.SoundFile, "flush", flush_and_ctrl_c)
  out = str(tmp_path / "o")
  old = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with pytest.raises((KeyboardInterrupt, SystemExit)):
      sample_files.stream_samples(loaded, out, req, 3.0, seed=0, progress=False)
  finally:
    signal.signal(signal.SIGINT, old)
    monkeypatch.undo()
  lengths = [read(os.path.join(out, f))[1].frames for f in ("tone_000.wav", "rumble_000.wav")]
  assert lengths[0] % SR == 0 and lengths[1] % SR == 0, lengths
  assert lengths[0] == lengths[1], f"clips of different lengths after Ctrl-C: {lengths}"
  assert lengths[0] == SR, lengths  # the block being flushed was finished, and kept



@pytest.mark.parametrize("caller", ["script", "python"])
def test_a_stream_quit_at_once_leaves_a_manifest_of_what_the_files_hold(workdir, tmp_path,
                                                                        monkeypatch, caller):
  """A second Ctrl-C while the second block is being written ends sample.py
  at once (``os._exit``: no ``finally`` runs; faked here to look at the
  folder at that moment), and raises ``signals.QuitNow`` out of
  ``stream_samples`` called from Python: either way the manifest already
  says the one whole block the files hold, not the 3 s asked. Rules out a
  manifest rewritten only on the way out, which a forced quit never takes,
  and a notebook's kernel ended by os._exit."""
  from samplernn_jax import signals
  loaded = sample_files.load_checkpoint(workdir)
  req = sample_files.make_request(loaded.class_names, "tone,rumble", 1, None)
  out = str(tmp_path / "o")
  seen = {}

  class Quit(BaseException):
    pass

  def exit_now(code):
    seen["code"], seen["manifest"] = code, manifest(out)
    raise Quit
  monkeypatch.setattr(signals.os, "_exit", exit_now)
  monkeypatch.setattr(signals, "FORCE_AFTER_S", 0.0)  # both signals at once count as two
  real_flush, calls = sf.SoundFile.flush, []

  def flush_and_quit(self):
    real_flush(self)
    calls.append(self.name)
    if len(calls) == 3:  # clip 0's second block
      os.kill(os.getpid(), signal.SIGINT)
      os.kill(os.getpid(), signal.SIGINT)
      time.sleep(0.05)  # the handlers run here
  monkeypatch.setattr(sf.SoundFile, "flush", flush_and_quit)
  old = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with (signals.quitting_the_process() if caller == "script" else contextlib.nullcontext()):
      with pytest.raises(Quit if caller == "script" else signals.QuitNow) as quit_:
        sample_files.stream_samples(loaded, out, req, 3.0, seed=0, progress=False)
  finally:
    signal.signal(signal.SIGINT, old)
    monkeypatch.undo()
  if caller == "python":
    seen["code"], seen["manifest"] = quit_.value.args[0], manifest(out)
    assert [sf.info(os.path.join(out, f)).frames for f in ("tone_000.wav", "rumble_000.wav")
            ] == [SR, SR]  # the finally closed both files
  assert seen["code"] == 130
  assert [r["seconds"] for r in seen["manifest"]] == [1.0, 1.0]


def test_ctrl_c_without_stream_stops_between_blocks(workdir, tmp_path, monkeypatch, capsys):
  """A real SIGINT while the first of three blocks is generated, with
  ``stop_on_signal``: ``signals.Stopped`` (exit 130) once that block is
  done, the other two never started, no clip written; sample.py (its
  ``main``) passes it: exit 130 and the signal never raised inside the
  generation. Rules out the KeyboardInterrupt raised wherever the signal
  landed (inside XLA's dispatch; the interpreter's exit then crashed with a
  segmentation fault in one of three tries), sample.py calling
  write_samples without ``stop_on_signal``, and a run that goes on to the
  end regardless."""
  from samplernn_jax import signals
  loaded = sample_files.load_checkpoint(workdir)
  req = sample_files.make_request(loaded.class_names, "tone", 1, None)
  real_blocks, started, landed = sampling._run_blocks, [], []

  def blocks_then_ctrl_c(*args, **kwargs):
    for block in real_blocks(*args, **kwargs):
      started.append(1)
      if len(started) == 1:
        try:
          os.kill(os.getpid(), signal.SIGINT)
          time.sleep(0.05)  # the handler runs here
        except KeyboardInterrupt:  # raised where it landed: no stop_on_signal
          landed.append(1)
          raise
      yield block
  monkeypatch.setattr(sampling, "_run_blocks", blocks_then_ctrl_c)
  out = str(tmp_path / "o")
  old = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with pytest.raises(KeyboardInterrupt) as e:  # not pytest's own stop if the test fails
      sample_files.write_samples(loaded, out, req, 3.0, progress=False, stop_on_signal=True)
  finally:
    signal.signal(signal.SIGINT, old)
  assert isinstance(e.value, signals.Stopped) and e.value.exit_code == 130
  assert len(started) == 1 and not landed
  assert not (os.path.isdir(out) and any(f.endswith(".wav") for f in os.listdir(out)))
  started.clear()  # the same through sample.py
  out = str(tmp_path / "script")
  capsys.readouterr()
  old = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with pytest.raises(SystemExit) as e:
      load_sample_py().main(["--workdir", workdir, "--out", out, "--classes", "tone",
                             "--per_class", 1, "--seconds", 3, "--no_progress"])
  finally:
    signal.signal(signal.SIGINT, old)
  assert e.value.code == 130 and len(started) == 1 and not landed, capsys.readouterr().err
  assert "without --stream no clip is written" in capsys.readouterr().err
  assert not (os.path.isdir(out) and any(f.endswith(".wav") for f in os.listdir(out)))


def test_overwrite_replaces(workdir, filled, tmp_path):
  """--overwrite replaces an earlier run's files (here a copy of them): the
  same names, every file's bytes changed, the new length and seed. Rules
  out --overwrite that skips files already there, or writes the new clips
  beside the old under other names."""
  out = str(tmp_path / "copy")
  os.makedirs(out)
  for name, (data, _) in snapshot(filled).items():
    with open(os.path.join(out, name), "wb") as f:
      f.write(data)
  before = snapshot(out)
  ok(run_sample("--workdir", workdir, "--out", out, "--classes", "tone,rumble",
                "--per_class", 1, "--seconds", 0.2, "--seed", 9, "--overwrite"))
  after = snapshot(out)
  assert sorted(after) == sorted(before)
  for name in before:
    assert after[name][0] != before[name][0], name
  assert read(os.path.join(out, "tone_000.wav"))[1].frames == 3200
  assert manifest(out)[0]["seed"] == 9


def test_a_list_of_classes_takes_ints_as_indices_and_must_name_one():
  """make_request with a list (a library caller's): an int is an index even
  where a class is called '3' (in sample.py's --classes string a name comes
  first), an index out of range or an empty list is a ValueError, and so is
  a per_class that is no int. Rules out ints matched as names first (3 took
  the class called '3', index 2), [] taken as every class, and 2.0 clips a
  class failing later with a TypeError."""
  names = ["bus", "park", "3", "x"]
  assert sample_files.make_request(names, [3, "bus"], 1, None).labels == ["x", "bus"]
  assert sample_files.make_request(names, [0], 1, None).labels == ["bus"]  # the first index
  assert sample_files.make_request(names, "3", 1, None).labels == ["3"]  # a string: the name
  for bad, says in (([], r"classes=\[\]: names no class"), ([4], r"index 4: expected 0 \.\. 3"),
                    ([-1], r"index -1: expected 0 \.\. 3")):
    with pytest.raises(ValueError, match=says):
      sample_files.make_request(names, bad, 1, None)
  with pytest.raises(ValueError, match=r"per_class=2\.0: expected an integer"):
    sample_files.make_request(names, None, 2.0, None)


def test_only_the_folders_own_wavs_of_an_earlier_manifest_are_removable(tmp_path):
  """What --overwrite may remove of an earlier run (``_listed_wavs``): only
  the WAV names of its manifest that lie in the folder itself, never a path
  that leads out of it (a hand-edited or foreign manifest), another kind of
  file, or an entry that is no string. Rules out the checks joined by "or"
  (``../recording.wav`` deleted beside the folder, ``notes.txt`` inside)."""
  path = tmp_path / "manifest.json"
  path.write_text(json.dumps([{"file": "rain_000.wav"}, {"file": "RAIN_001.WAV"},
                              {"file": "../recording.wav"}, {"file": "sub/x.wav"},
                              {"file": "notes.txt"}, {"file": 3}, "rain_002.wav"]))
  assert sample_files._listed_wavs(str(path)) == ["rain_000.wav", "RAIN_001.WAV"]


def test_overwrite_with_another_request_leaves_no_earlier_clip(workdir, tmp_path):
  """--overwrite with fewer clips than before: the earlier manifest's clips
  that the new request does not make again are removed, a file sample.py
  never listed stays. Rules out old clips left beside the new ones, looking
  like clips of the new settings (and scored as such by evaluate.py when the
  manifest is gone)."""
  loaded = sample_files.load_checkpoint(workdir)
  out = str(tmp_path / "o")
  first = sample_files.make_request(loaded.class_names, "tone,rumble", 2, None)
  sample_files.write_samples(loaded, out, first, 0.05, progress=False)
  with open(os.path.join(out, "mine.wav"), "wb") as f:
    f.write(b"a user's own file")
  second = sample_files.make_request(loaded.class_names, "tone", 1, None)
  sample_files.write_samples(loaded, out, second, 0.05, overwrite=True, progress=False)
  assert sorted(os.listdir(out)) == ["manifest.json", "mine.wav", "model.json", "tone_000.wav"]
  assert [r["file"] for r in manifest(out)] == ["tone_000.wav"]


def test_an_overwrite_removes_an_earlier_clip_named_apart_only_by_case(tmp_path, monkeypatch):
  """An earlier manifest's ``rain_000.wav`` where the new one lists
  ``Rain_000.wav``: on a case-sensitive filesystem (this one) two files, the
  earlier removed; where the two names are one file (``os.path.samefile``,
  faked true: macOS, Windows) it is the new clip and stays. Rules out
  comparing the names in lower case alone, which kept the earlier clip
  beside the new ones on Linux, and comparing them exactly, which would
  delete the new clip on a case-blind filesystem."""
  out = str(tmp_path)
  for name in ("rain_000.wav", "Rain_000.wav"):
    with open(os.path.join(out, name), "wb") as f:
      f.write(name.encode())
  records = [{"file": "Rain_000.wav"}]
  monkeypatch.setattr(sample_files.os.path, "samefile", lambda a, b: True)
  sample_files.remove_unlisted(out, ["rain_000.wav"], records)
  assert sorted(os.listdir(out)) == ["Rain_000.wav", "rain_000.wav"]
  monkeypatch.undo()
  sample_files.remove_unlisted(out, ["rain_000.wav"], records)
  assert os.listdir(out) == ["Rain_000.wav"]


def test_a_run_holds_its_folder_until_its_last_write(workdir, tmp_path, monkeypatch, caplog):
  """A second run into a folder is refused at once while the first checks
  what is there, generates, and removes what its old manifest listed (after
  its last write), or, streaming, records its manifest, and the first's clips are all there at the end. Rules
  out the check for existing files alone: both runs found the folder free,
  and the one that ended last removed the other's clips as an earlier
  manifest's (or replaced them); a lock taken only around the check; and
  one taken only around the generation (the check and the writes
  unlocked); the same for a streaming run, which appends to its files and
  rewrites its manifest block by block."""
  loaded = sample_files.load_checkpoint(workdir)
  out = str(tmp_path / "o")
  other = sample_files.make_request(loaded.class_names, "clicks", 1, None)
  in_use = f"out={out} is in use by another run; wait for it to end or use another folder"

  def refusals_while(run, points):
    """run() with each (module, name) of points first trying another run
    into out (which itself probes nothing); the refusals' messages."""
    reals = [(mod, name, getattr(mod, name)) for mod, name in points]
    refused = []

    def probed(real):
      def call(*args, **kwargs):
        with monkeypatch.context() as m:
          for mod, name, r in reals:
            m.setattr(mod, name, r)
          with pytest.raises(WorkdirError) as err:
            sample_files.write_samples(loaded, out, other, 0.05, overwrite=True, progress=False)
        refused.append(str(err.value))
        return real(*args, **kwargs)
      return call
    with monkeypatch.context() as m:
      for mod, name, real in reals:
        m.setattr(mod, name, probed(real))
      run()
    return refused

  req = sample_files.make_request(loaded.class_names, "tone", 2, None)
  refused = refusals_while(
      lambda: sample_files.write_samples(loaded, out, req, 0.05, progress=False),
      [(sample_files, "check_level"), (sampling, "generate"), (sample_files, "remove_unlisted")])
  assert refused == 3 * [in_use]
  assert sorted(os.listdir(out)) == ["manifest.json", "model.json", "tone_000.wav",
                                     "tone_001.wav"]
  # the streaming run holds it too: at its check, its first block, and each
  # manifest it records (the last after its last block)
  refused = refusals_while(
      lambda: sample_files.stream_samples(loaded, out, req, 0.05, overwrite=True,
                                          progress=False),
      [(sample_files, "check_level"), (sampling, "generate_blocks"),
       (sample_files, "write_manifest")])
  assert len(refused) >= 4 and set(refused) == {in_use}, refused
  assert sorted(os.listdir(out)) == ["manifest.json", "model.json", "tone_000.wav",
                                     "tone_001.wav"]
  # a folder the filesystem cannot lock (NFS locks only files open for writing,
  # EBADF): a warning, and the run writes
  real_flock = workdir_lib.fcntl.flock

  def no_folder_locks(fd, op):
    if os.path.isdir(f"/proc/self/fd/{fd}"):
      raise OSError(errno.EBADF, "Bad file descriptor")
    return real_flock(fd, op)
  monkeypatch.setattr(workdir_lib.fcntl, "flock", no_folder_locks)
  with caplog.at_level("WARNING"):
    sample_files.write_samples(loaded, out, req, 0.05, overwrite=True, progress=False)
  assert "cannot lock the folder (Bad file descriptor); writing unlocked" in caplog.text


def test_a_refused_stream_writes_nothing(workdir, tmp_path):
  """A stream the sampler refuses (a prime of levels the model does not
  have; a clip of 2**31 samples, named by --seconds) leaves no file and no
  folder. Rules out the checks run lazily at the first block, after the
  manifest, model.json and empty WAVs were written, which then made a
  corrected retry fail with "exists; pass --overwrite"."""
  loaded = sample_files.load_checkpoint(workdir)
  req = sample_files.make_request(loaded.class_names, "tone", 1, None)
  out = str(tmp_path / "o")
  with pytest.raises(ValueError, match=r"forced samples range over \[0, 999\]"):
    sample_files.stream_samples(loaded, out, req, 0.05, prime=np.array([0, 999], np.int32),
                                progress=False)
  assert not os.path.exists(out)
  with pytest.raises(ValueError, match=r"seconds=140000 makes 2240000000 samples a clip; "
                                       r"expected fewer than 2\*\*31 \(37.3 hours at 16000 Hz\)"):
    sample_files.stream_samples(loaded, out, req, 140000.0, progress=False)
  assert not os.path.exists(out)
  nested = tmp_path / "x" / "y" / "z"  # the folders a refused run made are removed
  with pytest.raises(ValueError, match="temperature=-1"):
    sample_files.stream_samples(loaded, str(nested), req, 0.05, temperature=-1, progress=False)
  assert not os.path.exists(tmp_path / "x")
  with pytest.raises(ValueError, match="n_samples=0: expected a positive integer"):
    sampling.generate_blocks(loaded.model, loaded.params, req.class_vecs, 0,
                             jax.random.key(0))  # raised by the call, before any block


def test_a_stream_whose_first_block_fails_writes_nothing(workdir, tmp_path, monkeypatch):
  """A stream whose first block fails (on a GPU: out of memory, or a
  compile error) leaves no folder: the first block is generated before the
  manifest, model.json and the WAVs. Rules out the order as it was (files
  first), which left a manifest of 0 s and header-only WAVs, so that the
  retry was refused with "exists; pass --overwrite"."""
  loaded = sample_files.load_checkpoint(workdir)
  req = sample_files.make_request(loaded.class_names, "tone", 2, None)

  def failing(*args, **kwargs):
    yield from ()
    raise MemoryError("RESOURCE_EXHAUSTED: out of memory (faked)")
  monkeypatch.setattr(sampling, "generate_blocks", failing)
  out = tmp_path / "o"
  with pytest.raises(MemoryError):
    sample_files.stream_samples(loaded, str(out), req, 0.05, progress=False)
  assert not out.exists()


def test_a_stop_during_a_streams_first_block_keeps_that_block(workdir, tmp_path, monkeypatch):
  """SIGTERM while the first block is made (its compile, on a GPU often the
  longest wait): the stream writes that finished block, its manifest says
  so, and it stops (signals.Stopped, 143). Rules out a stop there that
  dropped the finished block while sample.py said the files hold every
  block finished so far."""
  from samplernn_jax import signals
  loaded = sample_files.load_checkpoint(workdir)
  req = sample_files.make_request(loaded.class_names, "tone", 1, None)
  real = sampling.generate_blocks

  def signalled(*args, **kwargs):
    blocks = real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)  # the stream's handler is installed by now
    time.sleep(0.05)
    yield from blocks
  monkeypatch.setattr(sampling, "generate_blocks", signalled)
  out = tmp_path / "o"
  with pytest.raises(signals.Stopped) as stopped:
    sample_files.stream_samples(loaded, str(out), req, 3.0, progress=False)
  assert stopped.value.exit_code == 143
  assert read(str(out / "tone_000.wav"))[1].frames == SR  # one block of 1 s
  assert [r["seconds"] for r in manifest(str(out))] == [1.0]


def test_a_stream_raises_the_open_files_limit_or_refuses_before_writing(workdir, tmp_path,
                                                                         monkeypatch):
  """A stream holds every clip's WAV open: with a soft limit on open files
  too low it raises it (up to the hard limit) and streams; with a hard limit
  too low it refuses at once, naming the clips, the limit and the flags,
  with nothing written. Rules out opening the files regardless: under
  ``ulimit -n 80`` a stream of 100 clips failed after 75 header-only WAVs
  and a manifest (the default --per_class 20 of 15 classes opens 300)."""
  loaded = sample_files.load_checkpoint(workdir)
  req = sample_files.make_request(loaded.class_names, "tone", 3, None)
  calls = []
  monkeypatch.setattr(files.resource, "setrlimit", lambda what, lim: calls.append(lim))
  monkeypatch.setattr(files.resource, "getrlimit", lambda what: (8, 100_000))
  paths = sample_files.stream_samples(loaded, str(tmp_path / "a"), req, 0.05, progress=False)
  assert len(paths) == 3 and len(calls) == 1 and 8 < calls[0][0] < 100_000, calls
  assert calls[0][1] == 100_000  # the hard limit is left as it was
  monkeypatch.setattr(files.resource, "getrlimit", lambda what: (8, 12))
  out = tmp_path / "b"
  with pytest.raises(ValueError, match=r"a stream of 3 clips \(sample.py --stream: --classes, "
                                       r"--per_class\): 3 files open at once need about \d+ "
                                       r"descriptors; this process may have 8 \(ulimit -n\) "
                                       r"and no more than 12 \(ulimit -Hn\)"):
    sample_files.stream_samples(loaded, str(out), req, 0.05, progress=False)
  assert not out.exists() and len(calls) == 1


def test_seeds_past_32_bits_are_refused(workdir, tmp_path):
  """JAX's keys keep a seed's low 32 bits: seed 2**32 drew exactly seed 0's
  clips while the manifest recorded another seed. Rules out accepting it,
  and a float or bool seed (JAX refuses it later, with a traceback)."""
  loaded = sample_files.load_checkpoint(workdir)
  req = sample_files.make_request(loaded.class_names, "tone", 1, None)
  for seed in (2 ** 32, -1, 3.0, True):
    with pytest.raises(ValueError, match=f"seed={seed!r}: expected an integer 0 .. 2\\*\\*32 - 1"):
      sample_files.write_samples(loaded, str(tmp_path / "o"), req, 0.05, seed=seed,
                                 progress=False)
  assert not os.path.exists(tmp_path / "o")


def test_a_clip_past_plain_wavs_4_gib_is_written_as_rf64(workdir, tmp_path, monkeypatch):
  """Plain WAV counts its data in 32-bit bytes (2**30 float32 samples,
  18.6 hours at 16 kHz): libsndfile wrote longer clips without an error and
  readers saw 2**30 - 1 frames. Here the limit is lowered to 100 samples:
  both writers then make RF64 files that read back whole, and a shorter clip
  stays plain WAV. Rules out plain WAV whatever the length."""
  loaded = sample_files.load_checkpoint(workdir)
  req = sample_files.make_request(loaded.class_names, "tone", 1, None)
  assert sample_files.wav_format(2 ** 30) == "RF64"
  assert sample_files.wav_format(2 ** 30 - 64 * 4) == "WAV"
  common = dict(seed=3, progress=False)
  plain = sample_files.stream_samples(loaded, str(tmp_path / "plain"), req, 0.05, **common)[0]
  monkeypatch.setattr(sample_files, "WAV_MAX_SAMPLES", 100)
  whole = sample_files.write_samples(loaded, str(tmp_path / "w"), req, 0.05, level="none",
                                     **common)[0]
  streamed = sample_files.stream_samples(loaded, str(tmp_path / "s"), req, 0.05, **common)[0]
  assert sf.info(plain).format == "WAV"
  for path in (whole, streamed):
    assert sf.info(path).format == "RF64" and sf.info(path).frames == 800
    np.testing.assert_array_equal(read(path)[0], read(plain)[0])


# ---------------------------------------------------------------------------
# Refused inputs: exit 2, a message, nothing written.


def test_guidance_reaches_the_audio(workdir, tmp_path, monkeypatch):
  """For a model trained with config.cond_dropout, --guidance 3 gives the
  library's guided generation, and no --guidance gives the plain draw
  (guidance 1, the default for every model since the shipped config was
  measured worse with 3); --stream --guidance 3 writes the same guided
  samples; each run's model.json records its checkpoint, level,
  temperature, guidance and seed. Rules out a flag recorded in model.json
  but not passed to the sampler (of whole clips, or of a stream's blocks),
  a stream's record with settings swapped, and a default that guides such
  a model. The fixture's
  checkpoint stands in for such a model (its config says cond_dropout 0.5;
  which parameters are guided does not matter to the wiring)."""
  loaded = sample_files.load_checkpoint(workdir)
  loaded.config.cond_dropout = 0.5
  monkeypatch.setattr(sample_files, "load_checkpoint", lambda *a, **k: loaded)
  sample_py = load_sample_py()
  vec = np.eye(4, dtype=np.float32)[[0]]  # tone
  made = {}
  keys = ("workdir", "checkpoint", "step", "level", "temperature", "guidance", "seed")

  def record(out):
    with open(os.path.join(out, "model.json")) as f:
      return {k: v for k, v in json.load(f).items() if k in keys}

  def settings(level, guidance):
    return {"workdir": loaded.workdir, "checkpoint": loaded.checkpoint, "step": loaded.step,
            "level": level, "temperature": sample_files.DEFAULT_TEMPERATURE,
            "guidance": guidance, "seed": 0}

  for flag, g in ((["--guidance", "3"], 3.0), ([], 1.0)):
    out = str(tmp_path / f"g{len(flag)}")
    sample_py.main(["--workdir", workdir, "--out", out, "--classes", "tone", "--per_class",
                    "1", "--seconds", "0.25", "--level", "none", "--no_progress", *flag])
    got = read(os.path.join(out, "tone_000.wav"))[0]
    q, _ = sampling.generate(loaded.model, loaded.params, vec, 4000, jax.random.key(0),
                             sample_files.DEFAULT_TEMPERATURE, guidance=g)
    np.testing.assert_array_equal(got, sampling.to_audio(q, "linear", 256, "none")[0])
    assert record(out) == settings("none", g)
    made[g] = q
  plain, _ = sampling.generate(loaded.model, loaded.params, vec, 4000, jax.random.key(0),
                               sample_files.DEFAULT_TEMPERATURE)
  np.testing.assert_array_equal(made[1.0], plain)  # no flag: the unguided draw
  assert not np.array_equal(made[3.0], plain)  # --guidance 3 made a difference
  streamed = str(tmp_path / "streamed")  # a stream's blocks are guided too (level none)
  sample_py.main(["--workdir", workdir, "--out", streamed, "--classes", "tone", "--per_class",
                  "1", "--seconds", "0.25", "--stream", "--guidance", "3", "--no_progress"])
  np.testing.assert_array_equal(read(os.path.join(streamed, "tone_000.wav"))[0],
                                sampling.to_audio(made[3.0], "linear", 256, "none")[0])
  assert record(streamed) == settings("none", 3.0)


def prime_file(tmp_path, kind):
  path = str(tmp_path / f"prime_{kind}.wav")
  if kind == "rate":
    sf.write(path, 0.1 * np.ones(800), 8000)
  elif kind == "stereo":
    sf.write(path, 0.1 * np.ones((800, 2)), SR)
  elif kind == "empty":
    sf.write(path, np.zeros(0), SR)
  elif kind == "text":
    with open(path, "w") as f:
      f.write("not audio at all\n")
  elif kind == "nan":
    sf.write(path, np.full(800, np.nan), SR, subtype="FLOAT")
  return path


BAD = {
    "unknown_class": (["--classes", "tone,nope"], "error: classes: unknown class 'nope'"),
    "index_out_of_range": (["--classes", "4"], "error: classes: unknown class '4'"),
    "unknown_mix_class": (["--mix", "tone:1,nope:1"], "error: mix: unknown class 'nope'"),
    "mix_and_classes": (["--mix", "tone:1", "--classes", "tone"], "exclude each other"),
    "mix_zero": (["--mix", "tone:0"], "error: mix: the weights sum to 0"),
    # summed to 1 with the others: a class vector outside every mix
    "mix_negative": (["--mix", "tone:-1,rumble:2"], "error: mix: weight of 'tone' is negative"),
    "seconds_zero": (["--seconds", "0"], "error: seconds=0.0: expected a positive length"),
    "seconds_negative": (["--seconds=-1"], "error: seconds=-1.0: expected a positive length"),
    "seconds_nan": (["--seconds", "nan"], "error: seconds=nan: expected a positive length"),
    "per_class_zero": (["--per_class", "0"], "error: per_class=0"),
    "ckpt_step": (["--ckpt", "99"], "no checkpoint at step 99 (have checkpoints/: ["),
    # not int()'s "invalid literal for int() with base 10"
    "ckpt_name": (["--ckpt", "newest"],
                  "error: ckpt='newest': expected best, latest or a step number"),
    "exists": (["--classes", "tone"], "pass --overwrite"),
    # other clips than the earlier run's: its manifest and model.json clash (the
    # run would replace them, and remove its clips as the old manifest's)
    "exists_other_clips": (["--classes", "chirp"],
                           "manifest.json exists (2 of the 3 files this run writes do); pass "
                           "--overwrite"),
    "stream_minmax": (["--stream", "--normalize", "minmax"], "--stream writes unscaled audio"),
    "prime_rate": (["--prime", "rate"], "sample rate 8000 Hz; expected 16000 Hz"),
    "prime_stereo": (["--prime", "stereo"], "2 channels; expected mono"),
    "prime_empty": (["--prime", "empty"], "empty (no samples)"),
    "prime_text": (["--prime", "text"], "not a readable audio file"),
    "prime_nan": (["--prime", "nan"], "holds NaN or Inf"),
    "prime_missing": (["--prime", "missing"], "no such file"),
    "guidance_untrained": (["--guidance", "2"],
                           "needs a model trained with config.cond_dropout > 0"),
    # a negative temperature was argmax, recorded as given
    "temperature_negative": (["--temperature=-1"],
                             "error: temperature=-1.0: expected 0 (argmax) or more"),
    "model_cls_not_module_class": (["--model_cls", "Deeper"],
                                   "error: --model_cls='Deeper': expected module:Class"),
    "model_cls_no_module": (["--model_cls", "no_such_variants:Deeper"],
                            "error: --model_cls='no_such_variants:Deeper': cannot import "
                            "'no_such_variants'"),
    "model_cls_no_class": (["--model_cls", "samplernn_jax.model:Deeper"],
                           "module 'samplernn_jax.model' defines no 'Deeper'"),
    "model_cls_not_a_model": (["--model_cls", "samplernn_jax.model:SampleTier"],
                              "expected SampleRNN or a subclass"),
    # JAX keeps a seed's low 32 bits: this one drew seed 0's clips
    "seed_past_32_bits": (["--seed", "4294967296"],
                          "error: seed=4294967296: expected an integer 0 .. 2**32 - 1"),
}


def test_a_recorded_mix_gives_back_the_same_class_vector():
  """The manifest's mix (the weights used) parsed again gives the vector the
  clips were drawn with, to the bit: 1/3 and 2/3 need all nine digits of a
  float32; a class named twice gets the sum of its weights (tone:1,
  rumble:1, tone:1 is 2/3 tone). Rules out a record rounded to six digits
  (another vector; a rerun from the manifest could draw other clips), and a
  repeated class whose last weight replaces the earlier (1/2 tone)."""
  i, j = CLASSES.index("tone"), CLASSES.index("rumble")
  twice = sample_files.parse_mix("tone:1,rumble:1,tone:1", CLASSES)
  assert (twice[i], twice[j]) == (np.float32(2 / 3), np.float32(1 / 3)) and twice.sum() == 1
  for spec in ("tone:1,rumble:2", "tone:1,rumble:1,chirp:1", "clicks:0.1,tone:0.7",
               "tone:1,rumble:1,tone:1"):
    req = sample_files.make_request(CLASSES, None, 1, spec)
    again = sample_files.parse_mix(req.mixes[0], CLASSES)
    np.testing.assert_array_equal(again, sample_files.parse_mix(spec, CLASSES))


def test_numbers_that_pass_comparisons_are_refused_by_name():
  """--mix weights of nan or inf (nan passed "< 0" and "sum <= 0" and wrote
  clips of NaN), weights whose float32 sum overflowed to inf, a superscript
  digit in --classes ("³".isdigit() is True, int("³") raises a bare error),
  --guidance nan and a guidance or temperature past float32's range (1e39:
  inf in the draw's float32, NaN logits, every sample level 0): each a
  ValueError naming the setting, as sample.py prints any of them (the BAD
  cases above run that path end to end)."""
  from types import SimpleNamespace
  for spec, message in (("tone:nan", "mix: weight 'nan' of 'tone' is not a finite number"),
                        ("tone:inf,rumble:1", "mix: weight 'inf' of 'tone' is not a finite"),
                        ("tone:1e308,rumble:1e308", "mix: the weights sum to inf")):
    with pytest.raises(ValueError, match=re.escape(message)):
      sample_files.parse_mix(spec, CLASSES)
  assert sample_files.parse_mix("tone:1e38,rumble:3e38", CLASSES)[:2].tolist() == [0.25, 0.75]
  with pytest.raises(ValueError, match="classes: unknown class '\u00b3'; the model knows tone"):
    sample_files.parse_classes("\u00b3", CLASSES)
  loaded = SimpleNamespace(config=SimpleNamespace(cond_dropout=0.1), checkpoint="best/1")
  for bad in (float("nan"), 1e39, -1e39):
    with pytest.raises(ValueError, match=re.escape(f"guidance={bad}: expected a finite float32")):
      sample_files.check_guidance(loaded, bad)
  with pytest.raises(ValueError, match=re.escape("temperature=1e+39: expected 0 (argmax) or more, "
                                                 "a finite float32 (at most 3.403e+38)")):
    sample_files.check_temperature(1e39)
  sample_files.check_temperature(3e38)  # large, but a float32
  sample_files.check_guidance(loaded, 2.0)  # a finite guidance of a cond_dropout model


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_and_leaves_files(workdir, filled, tmp_path, capsys, case):
  """Each refused input: exit code 2, its one ``error:`` message, and the
  output folder's files byte for byte as they were. Rules out a traceback
  (any other exception fails the test), a message that does not name what
  is wrong, a second error line, and files replaced or removed before the
  refusal (exists_other_clips: a folder's manifest and model.json not
  counted as outputs, so that clips of other classes replaced them and
  removed the earlier clips without --overwrite). In this process
  (sample.py's ``main``): the script's own wiring of the same path is run
  as a subprocess by test_infinite_seconds_refused and
  test_missing_checkpoint."""
  args, message = BAD[case]
  args = list(args)
  if "--prime" in args:
    i = args.index("--prime") + 1
    args[i] = prime_file(tmp_path, args[i]) if args[i] != "missing" else str(tmp_path / "none.wav")
  before = snapshot(filled)
  capsys.readouterr()
  with pytest.raises(SystemExit) as exit_:
    load_sample_py().main(["--workdir", workdir, "--out", filled, "--per_class", 1,
                           "--seconds", 0.1, "--no_progress", *args])
  err = capsys.readouterr().err
  assert exit_.value.code == 2, err[-3000:]
  errors = [l for l in err.splitlines() if l.startswith("error: ")]
  assert len(errors) == 1 and message in errors[0], err[-3000:]
  assert snapshot(filled) == before


def test_infinite_seconds_refused(workdir, tmp_path):
  """--seconds inf passes the 'positive' check; sample.py (a child process)
  exits 2 with an ``error: seconds=inf`` line, no traceback and no file.
  Rules out the check of seconds > 0 alone (inf * rate overflows the sample
  count later, after the folder was made)."""
  out = tmp_path / "o"
  proc = run_sample("--workdir", workdir, "--out", out, "--seconds", "inf", child=True)
  assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
  assert "error: seconds=inf" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]
  assert not out.exists() or os.listdir(out) == []


def test_missing_checkpoint(filled, tmp_path):
  """sample.py (the script) on an empty workdir exits 2 naming the workdir and 'no checkpoint',
  no traceback, with the --out folder's files as they were and the workdir still empty; a
  workdir that does not exist exits 2 with 'no such folder'. Rules out orbax's traceback on an
  empty folder, and files (a samples folder) made in the workdir or --out before the
  checkpoint is found."""
  empty = tmp_path / "empty_run"
  empty.mkdir()
  before = snapshot(filled)
  proc = run_sample("--workdir", empty, "--out", filled, "--seconds", 0.1, child=True)
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert "no checkpoint" in proc.stderr and str(empty) in proc.stderr, proc.stderr
  assert "Traceback" not in proc.stderr
  assert snapshot(filled) == before
  assert os.listdir(empty) == []
  proc = run_sample("--workdir", tmp_path / "no_such_run", "--seconds", 0.1)
  assert proc.returncode == 2 and "no such folder" in proc.stderr, proc.stderr[-3000:]


# ---------------------------------------------------------------------------
# A checkpoint of another model.


@pytest.mark.parametrize("change", ["sample_tier_conditioned", "no_learned_h0", "narrower"])
def test_checkpoint_of_another_model_is_refused(workdir, tmp_path, monkeypatch, change):
  """sample.py's and score.py's loading (and the export to the original's
  names) refuses a checkpoint whose parameters
  do not fit the model its config builds, naming the checkpoint and the
  parameter: the model here (a stand-in for a research variant's class,
  built where the library builds it) has a sample tier that also takes the
  class (parameters the checkpoint lacks), no learned h0 (parameters of the
  checkpoint it would ignore, silently), or is narrower (other shapes).
  Rules out restoring without a target and letting flax ignore, or a
  broadcast absorb, what does not fit: clips made with part of a model's
  parameters, with no word of it."""
  from samplernn_jax import config as config_lib
  from samplernn_jax import cost, theano_params
  from samplernn_jax.errors import ParamFormatError
  real = config_lib.build_model
  other = {"sample_tier_conditioned": lambda m: m.clone(cond_sample_tier=True),
           "no_learned_h0": lambda m: m.clone(learn_h0=False),
           "narrower": lambda m: m.clone(dim=8)}[change]
  monkeypatch.setattr(config_lib, "build_model", lambda *a: other(real(*a)))
  expected = {"sample_tier_conditioned": r"missing: .*sample_tier",
              "no_learned_h0": r"not in the model: .*h0",
              "narrower": r"other shape: .*\(16,\) \(model \(8,\)\)"}[change]
  with pytest.raises(ParamFormatError, match=expected) as err:
    sample_files.load_checkpoint(workdir)
  assert f"{workdir}/best/{STEP}: its parameters do not fit" in str(err.value)
  data = tmp_path / "audio_valid.npz"
  np.savez(data, wav=np.zeros((2, 256), np.float16), sid=np.zeros(2, np.uint8))
  with pytest.raises(ParamFormatError, match=expected):
    cost.score(workdir, str(data), "best", {})
  with pytest.raises(ParamFormatError, match=expected):  # import_theano_params.py --export
    theano_params.export_original(workdir, str(tmp_path / "original.pkl"), "best")
  assert not (tmp_path / "original.pkl").exists()


def test_ckpt_names_pick_the_newest_step(tmp_path):
  """``--ckpt latest`` is the newest step of checkpoints/ by number (10 after
  9, not after 2 as text would sort), ``best`` the newest of best/ (two
  while a train.py saves a new best and removes the old), falling back to
  the newest state when no evaluation has run yet, and a number finds its
  step in either; ``latest`` of a folder with best/ alone (the demo's) is
  best's. Rules out sampling the oldest checkpoint kept (of either folder),
  the one whose name sorts last, and ``--demo --ckpt latest`` refused as "no
  checkpoint" beside the demo's one."""
  from samplernn_jax import checkpoint as ckpt_lib
  w = str(tmp_path)
  for step in (2, 9, 10):
    os.makedirs(os.path.join(w, ckpt_lib.LATEST, str(step)))
  assert ckpt_lib.find_step(w, "latest") == (ckpt_lib.LATEST, 10)
  assert ckpt_lib.find_step(w, "best") == (ckpt_lib.LATEST, 10)
  for step in (3, 6):  # the older best not yet removed
    os.makedirs(os.path.join(w, ckpt_lib.BEST, str(step)))
  assert ckpt_lib.find_step(w, "best") == (ckpt_lib.BEST, 6)
  assert ckpt_lib.find_step(w, "6") == (ckpt_lib.BEST, 6)
  assert ckpt_lib.find_step(w, "3") == (ckpt_lib.BEST, 3)
  assert ckpt_lib.find_step(w, "9") == (ckpt_lib.LATEST, 9)
  # A folder that keeps only its best state (the demo's): latest is that one.
  only_best = str(tmp_path / "demo_like")
  os.makedirs(os.path.join(only_best, ckpt_lib.BEST, "6000"))
  assert ckpt_lib.find_step(only_best, "latest") == (ckpt_lib.BEST, 6000)


# ---------------------------------------------------------------------------
# Reading a checkpoint beside a train.py that replaces them.


def test_a_step_removed_while_read_is_chosen_again(workdir, tmp_path, monkeypatch):
  """A train.py running in the workdir removes older steps as it saves
  newer ones (best/ keeps one): a step that vanishes while sample.py reads
  it is chosen again (``best`` now names the newer one), and the clips
  come from the newer step. Rules out the orbax error of the vanished step
  (a traceback, or "Checkpoint ... not found") ending sample.py, and a
  retry of the same, gone, step."""
  import shutil
  from samplernn_jax import checkpoint as ckpt_lib
  w = str(tmp_path / "run")
  shutil.copytree(workdir, w)
  real, calls = ckpt_lib.restore_params, []

  def replaced_while_read(wd, sub, step):  # as the trainer's save of a new best does
    calls.append((sub, step))
    if len(calls) == 1:
      shutil.copytree(os.path.join(wd, sub, str(step)), os.path.join(wd, sub, str(step + 4)))
      shutil.rmtree(os.path.join(wd, sub, str(step)))
    return real(wd, sub, step)
  monkeypatch.setattr(ckpt_lib, "restore_params", replaced_while_read)
  monkeypatch.setattr(ckpt_lib, "REMOVED_WAIT_S", 0.0)
  loaded = sample_files.load_checkpoint(w)
  assert calls == [("best", STEP), ("best", STEP + 4)] and loaded.step == STEP + 4


def test_a_numbered_step_or_a_newer_best_is_looked_up_again_and_other_errors_pass(
    workdir, tmp_path, monkeypatch):
  """``checkpoint.read_chosen``: ``--ckpt 4`` whose checkpoints/4 is removed
  while read is read from best/4 (a step is often saved in both); ``best``
  whose step fails to read while a newer best was saved meanwhile (orbax
  removes the files first, the folder last: it may outlive the wait) reads
  the newer; an error that is no failure of the checkpoint (out of memory,
  a TypeError of the caller's code) comes out as it is. Rules out a step
  number never looked up again ("removed while read" with best/4 intact),
  a half-removed step called damaged, and every error called damage (a
  user told so may delete a good checkpoint)."""
  import functools
  import shutil
  from samplernn_jax import checkpoint as ckpt_lib
  w = str(tmp_path / "run")
  shutil.copytree(workdir, w)
  monkeypatch.setattr(ckpt_lib, "REMOVED_WAIT_S", 0.0)
  calls = []

  def removing(wd, sub, step, remove):
    calls.append((sub, step))
    if len(calls) == 1:
      remove(os.path.join(wd, sub, str(step)))
    return ckpt_lib.restore_params(wd, sub, step)
  got = ckpt_lib.read_chosen(w, str(STEP), functools.partial(removing, w, remove=shutil.rmtree))
  assert calls == [("checkpoints", STEP), ("best", STEP)] and got[:2] == ("best", STEP)

  calls.clear()
  def newer_saved(path):  # the newer best in place, the older one's files half gone
    shutil.copytree(path, path[:-len(str(STEP))] + str(STEP + 4))
    shutil.rmtree(os.path.join(path, "state"))
  got = ckpt_lib.read_chosen(w, "best", functools.partial(removing, w, remove=newer_saved))
  assert calls == [("best", STEP), ("best", STEP + 4)] and got[:2] == ("best", STEP + 4)

  for error in (MemoryError("host"), TypeError("a variant's bug"),
                RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate")):
    def failing(sub, step, error=error):
      raise error
    with pytest.raises(type(error)) as raised:
      ckpt_lib.read_chosen(w, "best", failing)
    assert raised.value is error
  with pytest.raises(ValueError, match=r"^tries=0: expected at least 1$"):
    ckpt_lib.read_chosen(w, "best", failing, tries=0)


def test_a_damaged_checkpoint_is_one_error_line_naming_its_folder(workdir, tmp_path):
  """A step whose files are half gone (a copy cut short, or orbax removing
  it: the files first, the folder last): sample.py exits 2 with one line
  naming the step's folder, what failed and the likely cause. Rules out
  orbax's KeyError or tensorstore's trace of hundreds of lines (exit 1)."""
  import shutil
  w = str(tmp_path / "run")
  shutil.copytree(workdir, w)
  shutil.rmtree(os.path.join(w, "best", str(STEP), "state"))
  proc = run_sample("--workdir", w, "--out", tmp_path / "out", "--per_class", 1,
                    "--seconds", 0.1)
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
  assert len(errors) == 1 and errors[0].startswith(
      f"error: {os.path.join(w, 'best', str(STEP))}: cannot be read ("), errors
  assert errors[0].endswith("it is damaged, or was being removed by a train.py running "
                            "in this workdir"), errors
  assert not os.path.exists(tmp_path / "out")


def test_reading_a_step_looks_at_no_other_step(workdir, monkeypatch):
  """sample.py and score.py read one step's folder (an orbax Checkpointer),
  not a CheckpointManager of checkpoints/ or best/: a manager looks at every
  step when built, and failed (FileNotFoundError, NotADirectoryError) when
  a train.py in the workdir removed another step meanwhile (12 of 196 reads
  under a save-and-remove loop, 2026-12-03). Rules out the manager kept
  for reading (it is made to fail here)."""
  from samplernn_jax import checkpoint as ckpt_lib

  def no_manager(*args, **kwargs):
    raise AssertionError("a CheckpointManager built to read one step")
  monkeypatch.setattr(ckpt_lib.ocp, "CheckpointManager", no_manager)
  params, meta = ckpt_lib.restore_params(workdir, "best", STEP)
  assert ckpt_lib.read_meta(workdir, "best", STEP) == meta and jax.tree.leaves(params)
