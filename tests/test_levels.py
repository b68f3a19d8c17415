"""Output levels (samplernn_jax/levels.py) and the sampler's draws.

The level option must make each clip's loudness what it promises, and the
temperature must change the draws as a softmax temperature does.
"""
import numpy as np
import pytest
import scipy.stats

import jax
import jax.numpy as jnp

from samplernn_jax import levels
from samplernn_jax import sampling


def _clips(seed=0, b=6, n=4000):
  """Clips with a DC offset and very different loudness, float64 [b, n]."""
  rng = np.random.default_rng(seed)
  scale = np.geomspace(1e-3, 0.5, b)[:, None]
  return 0.3 + scale * rng.standard_normal((b, n))


def test_class_level_gives_each_clip_its_target_rms():
  """level 'class': each clip's DC-free RMS equals its target within 1e-6
  relative, and its mean is 0. Rules out scaling by the peak or by the RMS
  with the DC offset left in, and ignoring the per-clip target."""
  x = _clips()
  target = np.linspace(0.01, 0.08, x.shape[0])
  y = levels.apply(x, "class", target)
  np.testing.assert_allclose(levels.rms(y), target, rtol=1e-6)
  np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-7)
  assert y.dtype == np.float32


def test_class_level_never_clips():
  """A target so loud that the peaks would pass full scale is turned down to
  a peak of exactly 1, whether they would pass it by 30x or by 1.41x (a sine
  at RMS 1). Rules out writing samples beyond [-1, 1], and a turn-down that
  starts only well past full scale or stops short of it."""
  x = np.zeros((1, 1000))
  x[0, 10] = 1.0  # one spike: RMS 0.03 needs a peak of about 0.95 * sqrt(1000)
  y = levels.apply(x, "class", np.array([0.5]))
  assert np.abs(y).max() == pytest.approx(1.0, abs=1e-6)
  sine = np.sin(2 * np.pi * np.arange(1000) / 40)[None]  # whole periods, peaks sampled
  y = levels.apply(sine, "class", np.array([1.0]))
  assert np.abs(y).max() == pytest.approx(1.0, abs=1e-6)
  np.testing.assert_allclose(levels.rms(y), 2 ** -0.5, rtol=1e-5)  # the shape kept


def test_minmax_and_peak_levels():
  """minmax spans exactly [-0.475, 0.475] (the paper); peak has max |x| =
  0.475 and keeps the sign pattern, for clips whose largest magnitude is
  positive and for their negatives; none is the input. A silent clip is
  zeros under every level, a constant one under minmax and class (no
  division by zero); peak scales a constant to 0.475. Rules out 0 / 0 taken
  as full scale (a silent clip played as a constant offset), and peak
  scaled by the largest sample, not magnitude (a clip whose negative peak
  is louder, or that is all negative, passed full scale or flipped)."""
  x = _clips()
  y = levels.apply(x, "minmax")
  np.testing.assert_allclose(y.min(-1), -0.475, atol=1e-6)
  np.testing.assert_allclose(y.max(-1), 0.475, atol=1e-6)
  for z in (x, -x):  # the DC offset makes x's largest magnitudes positive, -x's negative
    p = levels.apply(z, "peak")
    np.testing.assert_allclose(np.abs(p).max(-1), 0.475, atol=1e-6)
    np.testing.assert_array_equal(np.sign(p), np.sign(z))
  np.testing.assert_allclose(levels.apply(x, "none"), x.astype(np.float32))
  const = np.full((1, 100), 0.2)
  for lv, t in (("minmax", None), ("peak", None), ("class", np.array([0.05]))):
    # a silent clip is silence under every level (0 / 0 taken as 0) ...
    np.testing.assert_array_equal(levels.apply(np.zeros((1, 100)), lv, t), 0.0)
    if lv == "peak":
      continue  # ... a constant non-zero one a valid peak-scaled clip (+-0.475)
    np.testing.assert_array_equal(levels.apply(const, lv, t), 0.0)
  np.testing.assert_allclose(levels.apply(const, "peak"), 0.475, atol=1e-6)


def test_class_targets_of_one_hot_rows_and_mixes():
  """One-hot rows take their class's level; a mix the weighted mean, its
  weights summing to 1 or not. A checkpoint without levels, or a class
  without training clips, or a clip all of whose classes have silent ones
  (level 0: it would be played as silence; a mix with a louder class is
  not), is refused with a message naming the level and the class. Rules
  out taking the first class's level for every clip, a weighted sum not
  divided by the weights' total (the same for weights summing to 1),
  writing all-zero clips without a word, and a row of no class weight (all
  zero, the unconditional draw a Python caller may ask for; or NaN) given
  0/0 = NaN as its level: clips of NaN audio."""
  lv = [0.01, 0.04, None]
  vecs = np.array([[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0], [1, 3, 0]], np.float32)
  np.testing.assert_allclose(levels.clip_targets(vecs, lv), [0.01, 0.04, 0.025, 0.0325])
  with pytest.raises(levels.LevelError, match="level 'class'"):
    levels.clip_targets(vecs, None)
  with pytest.raises(levels.LevelError, match=r"class\(es\) \[2\]"):
    levels.clip_targets(np.array([[0, 0, 1.0]]), lv)
  silent = [0.01, 0.0, 0.02]  # class 1's training clips are silent
  with pytest.raises(levels.LevelError, match=r"class\(es\) \[1\] are silent"):
    levels.clip_targets(np.array([[1.0, 0, 0], [0, 1.0, 0]]), silent)
  # a mix with it plays at the weighted mean, which is not silence
  np.testing.assert_allclose(levels.clip_targets(np.array([[0.5, 0.5, 0]]), silent), [0.005])
  np.testing.assert_allclose(levels.clip_targets(np.array([[1.0, 0, 1.0]]), silent), [0.015])
  for row in ([0, 0, 0], [np.nan, 1, 0]):
    with pytest.raises(levels.LevelError, match=r"clip\(s\) \[1\] have class weights that do "
                                                 "not sum to more than 0"):
      levels.clip_targets(np.array([[1.0, 0, 0], row]), lv)
  with pytest.raises(levels.LevelError, match="expected one of"):
    levels.apply(np.zeros((1, 4)), "loud")


def test_class_rms_is_the_median_per_class():
  """class_rms: the median DC-free RMS of each class's rows, read in blocks
  (a block size smaller than the split gives the same), None for a class
  without rows. The expected levels are numpy's std (ddof 0), not
  levels.rms: rules out an RMS with the clips' DC offset (0.3) left in,
  which levels.rms would share with the code it checks."""
  x = _clips(b=6)
  sid = np.array([0, 0, 0, 1, 1, 1])
  want = [float(np.median(x[:3].std(-1))), float(np.median(x[3:].std(-1))), None]
  assert levels.class_rms(x, sid, 3, rows_per_read=2) == pytest.approx(want[:2] + [None],
                                                                       rel=1e-6)
  got = levels.class_rms(x.astype(np.float16), sid, 3)
  np.testing.assert_allclose(got[:2], want[:2], rtol=1e-2)


def test_class_rms_reads_blocks_of_bounded_size():
  """class_rms reads a split of long clips in blocks of at most 32 MB of
  float64 (the trainer runs it at every fresh start, in every process,
  over a memory-mapped split), and gives the same levels. Rules out the
  fixed 256 rows it read before: 256 clips of 8 s at once, about 0.26 GB a
  copy and three copies."""
  class Recorded:  # a memory-map stand-in: records each block's rows
    def __init__(self, x):
      self.x, self.shape, self.rows = x, x.shape, []

    def __getitem__(self, s):
      self.rows.append(len(self.x[s]))
      return self.x[s]

  w = 600_000  # 37.5 s at 16 kHz
  x = np.random.default_rng(0).normal(0, 0.1, (20, w)).astype(np.float16)
  sid = np.arange(20) % 2
  rec = Recorded(x)
  got = levels.class_rms(rec, sid, 2)
  assert max(rec.rows) * w * 8 <= 32 << 20 and sum(rec.rows) == 20, rec.rows
  assert got == pytest.approx(levels.class_rms(x, sid, 2, rows_per_read=20))


def test_to_audio_applies_the_level_to_dequantised_levels():
  """sampling.to_audio dequantises then applies the level (class RMS
  promised on the output, not on the levels)."""
  q = np.random.default_rng(1).integers(100, 160, (3, 2000))
  y = sampling.to_audio(q, "linear", 256, "class", np.array([0.02, 0.03, 0.05]))
  np.testing.assert_allclose(levels.rms(y), [0.02, 0.03, 0.05], rtol=1e-5)


@pytest.mark.parametrize("q_type,q_levels", [("mu-law", 256), ("a-law", 256),
                                             ("linear", 64), ("mu-law", 1024)])
def test_to_audio_and_prime_follow_the_models_quantisation(tmp_path, q_type, q_levels):
  """A model trained with mu-law / a-law or another number of levels hears
  and speaks in that quantisation: to_audio at level 'none' is exactly
  dequantize(q_type, q_levels) (rules out the linear 256-level inverse used
  for every model), and a --prime file is quantised the way its batches are
  (rules out priming a mu-law model with linear levels)."""
  import soundfile as sf
  from samplernn_jax import quantize as quant
  from samplernn_jax import sample_files
  q = np.random.default_rng(2).integers(0, q_levels, (2, 3000))
  want = quant.dequantize(q, q_type, q_levels)
  np.testing.assert_allclose(sampling.to_audio(q, q_type, q_levels, "none"), want,
                             rtol=1e-6, atol=1e-7)  # float32 audio
  assert not np.allclose(want, quant.dequantize(q, "linear", q_levels)) or q_type == "linear"
  t = np.arange(2000) / 16000
  prime = 0.4 * np.sin(2 * np.pi * 330 * t) * np.linspace(0.01, 1, len(t))
  path = str(tmp_path / "prime.wav")
  sf.write(path, prime, 16000, subtype="FLOAT")
  got = sample_files.read_prime(path, 16000, q_type, q_levels)
  np.testing.assert_array_equal(got, quant.quantize(sf.read(path)[0], q_type, q_levels))
  assert got.min() >= 0 and got.max() < q_levels


# Half a quantisation step, as a share of the prime's range (hi - lo): the
# level centres of linear 256; mu-law 256's widest step, at full scale,
# is 2/255 x expand's slope ln(256) 256/255 = 0.0437 of [-1, 1] (0.0110 of it
# at half; 0.012 leaves float32's rounding room).
PRIME_TOL = {"linear": 0.5 / 256 + 1e-6, "mu-law": 0.012}


@pytest.mark.parametrize("q_type", ["linear", "mu-law"])
def test_prime_level_gives_the_recording_back(q_type):
  """level 'prime' undoes the scaling a prime got before quantisation: a
  quiet recording with a DC offset (RMS 0.002 around 0.01), quantised and
  dequantised, comes back within half a step of its own range (linear; the
  widest step for mu-law), and any level stays within the recording's min
  and max. A constant prime and a missing span are refused. Rules out the
  paper's and the class level's rescaling of a primed clip (the prime came
  back 10 dB louder), an offset lost (the scale alone) and a range doubled
  (the dequantised [-1, 1] taken as [0, 1])."""
  from samplernn_jax import quantize as quant
  rng = np.random.default_rng(5)
  x = 0.01 + 0.002 * rng.standard_normal(3000)
  span = (x.min(), x.max())
  back = levels.apply(quant.dequantize(quant.quantize(x, q_type), q_type)[None], "prime",
                      span=span)[0]
  assert np.abs(back - x).max() <= PRIME_TOL[q_type] * (span[1] - span[0])
  every = levels.apply(quant.dequantize(np.arange(256), q_type)[None], "prime", span=span)
  assert every.min() >= span[0] - 1e-7 and every.max() <= span[1] + 1e-7
  with pytest.raises(levels.LevelError, match="the prime recording is constant"):
    levels.apply(np.zeros((1, 4)), "prime", span=(0.0, 0.0))
  with pytest.raises(levels.LevelError, match="needs a prime recording to scale to: pass "
                     "sample.py --prime FILE"):
    levels.apply(np.zeros((1, 4)), "prime")


@pytest.mark.parametrize("temperature", [1.0, 0.7, 1.5])
def test_draws_follow_the_tempered_softmax(temperature):
  """20 000 draws at fixed logits against softmax(logits / T), chi-square
  test at significance 1e-4 (a correct sampler fails once in 10 000 runs;
  the key is fixed, so the outcome is repeatable). Rules out ignoring the
  temperature, multiplying instead of dividing by it, and drawing from the
  logits' argmax neighbourhood."""
  logits = jnp.array([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
  n = 20000
  noise = sampling._frame_noise(jax.random.key(3), 0, n, logits.shape)  # [n, Q]
  draws = jax.vmap(lambda z: sampling._draw_with(z, logits, jnp.float32(temperature)))(noise)
  counts = np.bincount(np.asarray(draws), minlength=logits.shape[0])
  p = np.asarray(jax.nn.softmax(logits / temperature), np.float64)
  p /= p.sum()
  stat, pval = scipy.stats.chisquare(counts, n * p)
  assert pval > 1e-4, (counts, n * p)
  # And the test has power: the draws reject a wrong temperature.
  wrong = np.asarray(jax.nn.softmax(logits / (temperature * 1.3)), np.float64)
  wrong /= wrong.sum()
  assert scipy.stats.chisquare(counts, n * wrong).pvalue < 1e-4


def test_importing_the_trainer_leaves_the_plotting_backend_alone():
  """Importing the library (trainer, metrics, evaluation report) must not
  switch matplotlib's global backend: a notebook user keeps theirs. Rules
  out ``matplotlib.use("Agg")`` at import time."""
  import subprocess
  import sys
  code = ("import matplotlib; matplotlib.use('svg'); "
          "import samplernn_jax.trainer, samplernn_jax.metrics, samplernn_jax.evaluation.report; "
          "print(matplotlib.get_backend())")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.strip().lower() == "svg"


def test_sample_py_help_states_the_defaults():
  """sample.py --help names the default temperature and level that the code
  uses, and the paper's settings (rules out help text left behind when a
  default changes)."""
  import os
  import subprocess
  import sys
  from samplernn_jax import sample_files
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = subprocess.run([sys.executable, os.path.join(repo, "sample.py"), "--help"],
                       capture_output=True, text=True, timeout=60).stdout
  text = " ".join(out.split())
  assert f"{sample_files.DEFAULT_TEMPERATURE} by default" in text
  assert f"{sample_files.DEFAULT_LEVEL} (default)" in text
  # "minmax:" begins that level's own line (absl lists the choices before it)
  minmax = text.split("minmax:")[1].split(";")[0]
  assert "the paper's plain draw" in text and "the paper's" in minmax
