"""Quantisation (samplernn_jax/quantize.py) against formulas written here.

The textbook formulas are re-derived in this file (mu = 255, A = 87.6), not
imported, so a wrong constant or a swapped branch in the library fails.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from samplernn_jax import quantize as quant

Q = 256
TYPES = ("linear", "mu-law", "a-law")


def paper_linear(x01):
  """The paper's rule on one value of a [0, 1]-normalised clip."""
  return int(x01 * (256 - 1e-5) + 5e-6)


def mu_law(x, mu=255.0):
  return math.copysign(math.log(1 + mu * abs(x)) / math.log(1 + mu), x)


def mu_law_inv(y, mu=255.0):
  return math.copysign(((1 + mu) ** abs(y) - 1) / mu, y)


def a_law(x, a=87.6):
  ax = abs(x)
  if ax < 1 / a:
    y = a * ax / (1 + math.log(a))
  else:
    y = (1 + math.log(a * ax)) / (1 + math.log(a))
  return math.copysign(y, x)


def a_law_inv(y, a=87.6):
  ay = abs(y)
  if ay < 1 / (1 + math.log(a)):
    x = ay * (1 + math.log(a)) / a
  else:
    x = math.exp(ay * (1 + math.log(a)) - 1) / a
  return math.copysign(x, y)


COMPAND = {"mu-law": (mu_law, mu_law_inv), "a-law": (a_law, a_law_inv)}


def signed_clip(n=4001, seed=0):
  """One clip in [-1, 1] with both ends present, so min-max scaling is ~identity."""
  x = np.random.default_rng(seed).uniform(-1, 1, n)
  x[0], x[1] = -1.0, 1.0
  return x


# ---------------------------------------------------------------------------
# linear (the paper)


def test_linear_ramp_matches_paper_formula():
  """A ramp of 1001 values over [0, 1] quantises exactly (no tolerance: the same float64
  operations) to the paper's int(x * (256 - 1e-5) + 5e-6): 0 at 0, 128 at 0.5, 255 at 1.
  Rules out a scale of q_levels - 1 (255: 0.5 gives 127), rounding instead of truncation,
  and a scale of 256 without the epsilon (1.0 gives level 256)."""
  ramp = np.linspace(0.0, 1.0, 1001)
  expected = [paper_linear(v) for v in ramp]  # exact: same float64 operations
  np.testing.assert_array_equal(quant.quantize(ramp[None], "linear"), [expected])
  assert expected[0] == 0 and expected[-1] == 255 and expected[500] == 128


def test_linear_boundaries_fall_where_the_originals_constants_put_them():
  """Values a hair (1e-9 of a level) either side of where the original's
  ``x * (256 - 1e-5) + 5e-6`` crosses each level land on its side: every
  level boundary is where the original's two constants put it. A ramp or
  random values never come this close to a boundary, so they let any
  nearby constant pass (1e-5 -> 2e-5 moves every boundary by up to half of
  1e-5 of a level: checked below to change most of these values)."""
  k = np.arange(1, 256, dtype=np.float64)
  low = (k - 5e-6 - 1e-9) / (256 - 1e-5)  # just below level k by the original's rule
  high = (k - 5e-6 + 1e-9) / (256 - 1e-5)  # just above it
  clip = np.concatenate([[0.0, 1.0], low, high])  # min 0, max 1: scaling is exact
  expected = [paper_linear(v) for v in clip]
  assert expected[2:257] == list(range(0, 255)) and expected[257:] == list(range(1, 256))
  np.testing.assert_array_equal(quant.quantize(clip[None], "linear")[0], expected)
  other = [int(v * (256 - 2e-5) + 1e-5) for v in clip]  # another epsilon
  assert sum(a != b for a, b in zip(other, expected)) > 200


def test_linear_is_per_clip_min_max():
  """Each row is scaled by its own min and max (then the paper's formula)."""
  rng = np.random.default_rng(1)
  rows = np.stack([rng.uniform(-3, 5, 300), 0.01 * rng.standard_normal(300),
                   rng.uniform(100, 101, 300)])
  q = quant.quantize(rows, "linear")
  for row, qrow in zip(rows, q):
    x01 = (row - row.min()) / (row.max() - row.min())
    np.testing.assert_array_equal(qrow, [paper_linear(v) for v in x01])
    assert qrow.min() == 0 and qrow.max() == 255  # every clip spans all levels
  # a batch equals its rows quantised one at a time (no cross-row scaling)
  np.testing.assert_array_equal(q[1], quant.quantize(rows[1:2], "linear")[0])


def test_linear_known_values():
  """[-1, 0, 1, 2, 3] is min-max normalised to 0, .25, .5, .75, 1 and gives exactly 0, 64,
  128, 191, 255 (0.75 * 255.99999 + 5e-6 = 191.9999975, worked by hand). Rules out
  rounding instead of truncation (192), normalising by the peak magnitude instead of by
  min and max (x / 3 mapped to [0, 1] gives 1/3 .. 1: the clip is asymmetric, so the two
  differ), and a scale of 255 (0.25 gives 63)."""
  x = np.array([[-1.0, 0.0, 1.0, 2.0, 3.0]])  # normalised: 0, .25, .5, .75, 1
  np.testing.assert_array_equal(quant.quantize(x, "linear"),
                                [[0, paper_linear(0.25), paper_linear(0.5),
                                  paper_linear(0.75), 255]])
  # by hand: 0.25 * 255.99999 + 5e-6 = 64.0000025; 0.75 -> 191.9999975
  assert paper_linear(0.25) == 64 and paper_linear(0.75) == 191


def test_linear_round_trip_within_half_a_level():
  """quantize then dequantize of a clip spanning [-1, 1] (4001 uniform samples) is within
  half a level, 1/256, of the input, plus 1e-6 for float32 rounding, and is float32.
  Rules out dequantize returning a level's lower edge (q / 128 - 1: off by up to a whole
  level, 1/128) and float64 output."""
  x = signed_clip()
  y = quant.dequantize(quant.quantize(x[None], "linear"), "linear")[0]
  # A level is 2/256 wide in [-1, 1]; dequantize returns its centre, so the
  # error is at most half a level (1/256), plus float32 rounding (1e-6).
  assert np.abs(y - x).max() <= 1 / 256 + 1e-6
  assert y.dtype == np.float32


def test_dequantize_linear_level_centres():
  """dequantize maps each of the 256 linear levels to its centre, (q + 0.5) / 128 - 1, to
  1e-7 (dyadic values, exact in float32). Rules out the level's edge q / 128 - 1 (off by
  1/256) and a divisor of 127.5 (level 255 then lands past 1)."""
  q = np.arange(256)
  np.testing.assert_allclose(quant.dequantize(q, "linear"), (q + 0.5) / 128 - 1, atol=1e-7)


# ---------------------------------------------------------------------------
# mu-law and a-law


@pytest.mark.parametrize("q_type", ["mu-law", "a-law"])
def test_companding_matches_textbook(q_type):
  """mu_law_compress and a_law_compress, and their expands, agree with the textbook formulas
  written in this file (mu = 255, A = 87.6) to 1e-12 on 2001 points over [-1, 1].
  Rules out mu = q_levels (256) instead of q_levels - 1, A-law's two branches swapped or
  split elsewhere than |x| = 1/A, and an expand that is not the compressor's inverse."""
  compress, expand = COMPAND[q_type]
  x = np.linspace(-1, 1, 2001)
  lib_c = (quant.mu_law_compress(x) if q_type == "mu-law" else quant.a_law_compress(x))
  np.testing.assert_allclose(lib_c, [compress(v) for v in x], atol=1e-12)
  y = np.linspace(-1, 1, 2001)
  lib_e = (quant.mu_law_expand(y) if q_type == "mu-law" else quant.a_law_expand(y))
  np.testing.assert_allclose(lib_e, [expand(v) for v in y], atol=1e-12)


@pytest.mark.parametrize("q_type", ["mu-law", "a-law"])
def test_companded_levels_match_textbook(q_type):
  """Level = int((F(x) + 1) / 2 * 255) with F the textbook compressor."""
  compress, _ = COMPAND[q_type]
  x = signed_clip(seed=2)
  expected = [int((compress(v) + 1) / 2 * 255) for v in x]
  got = quant.quantize(x[None], q_type)[0]
  # The library computes y = 2 * (x + 1) / 2 - 1, which may differ from x by an
  # ulp; that moves a level only for x within ~1e-16 of a boundary (none here).
  np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("q_type", ["mu-law", "a-law"])
def test_companded_round_trip_within_half_a_level(q_type):
  """For mu-law and a-law, a clip spanning [-1, 1] quantised and dequantised lies within half
  a level in the companded domain, |F(y) - F(x)| <= 1/255 + 1e-5 (float32 rounding after
  F's slope), and |y| <= 1 + 1e-6. Rules out dequantize returning a level's edge instead
  of its centre, the linear divisor 128 instead of 127.5, and (for mu-law) the top level's
  centre not clipped to 1 before expanding (level 255 then comes back as about 1.02)."""
  compress, _ = COMPAND[q_type]
  x = signed_clip(seed=3)
  y = quant.dequantize(quant.quantize(x[None], q_type), q_type)[0]
  # In the companded domain a level is 2/255 wide and dequantize returns its
  # centre: |F(y) - F(x)| <= 1/255, plus float32 rounding (1e-5 after F's slope).
  err = np.abs(np.array([compress(v) for v in y]) - np.array([compress(v) for v in x]))
  assert err.max() <= 1 / 255 + 1e-5
  assert np.abs(y).max() <= 1.0 + 1e-6


@pytest.mark.parametrize("q_type", ["linear", "mu-law", "a-law"])
def test_dequantize_gives_float32_for_every_scheme(q_type):
  """dequantize gives float32 audio within [-1, 1] for every scheme, from
  numpy and jnp levels alike. Rules out the a-law inverse as it was:
  float64 from numpy (A's logarithm, a numpy float64 scalar, promoted the
  float32 levels), so that a caller's arrays changed dtype with the scheme;
  and 1.0000001 at the top level (float32 exp's rounding: --level none
  wrote a sample past full scale, --level prime one past the prime's
  range)."""
  q = np.arange(256, dtype=np.int32)
  for x in (quant.dequantize(q, q_type), quant.dequantize(jnp.asarray(q), q_type, xp=jnp)):
    assert x.dtype == np.float32
    assert np.abs(np.asarray(x)).max() <= 1.0
  y = np.linspace(-1, 1, 200001, dtype=np.float32)
  assert np.abs(quant.a_law_expand(y)).max() <= 1.0


def test_mu_law_resolves_quiet_sounds_better_than_linear():
  """On the samples of a [-1, 1] clip quieter than 0.01, mu-law's worst round-trip error is
  under a quarter of linear's (a few 1e-4 against up to 1/256: its levels crowd near 0).
  Rules out a mu-law that neither compresses nor expands (linear with 255 levels, error
  about 1/255) and a dequantize that skips the expansion (errors near 0.2 at |x| ~ 0.01)."""
  x = signed_clip(seed=4)
  quiet = np.abs(x) < 0.01
  err = {t: np.abs(quant.dequantize(quant.quantize(x[None], t), t)[0] - x)[quiet].max()
         for t in ("linear", "mu-law")}
  assert err["mu-law"] < err["linear"] / 4


# ---------------------------------------------------------------------------
# shared behaviour


@pytest.mark.parametrize("q_type", TYPES)
def test_constant_clip_maps_to_zero_level(q_type):
  """A constant row (0.3 throughout) quantises to the zero level 128 = q_zero(256), in numpy
  and in jnp, while the batch's other row (a [-1, 1] ramp) still spans 0 to 254 or more.
  Rules out 0 / 0 giving NaN levels, a constant clip left to its 0.5 normalisation alone
  (mu-law and a-law then give (0 + 1) / 2 * 255 = 127.5, level 127), and a constant test
  over the whole batch that flattens the other row too."""
  x = np.array([[0.3] * 50, list(np.linspace(-1, 1, 50))])
  q = quant.quantize(x, q_type)
  assert (q[0] == 128).all() and quant.q_zero(256) == 128
  assert q[1].min() == 0 and q[1].max() >= 254  # the other row is unaffected
  qj = np.asarray(quant.quantize_jnp(jnp.asarray(x), q_type))
  assert (qj[0] == 128).all()


@pytest.mark.parametrize("q_type", TYPES)
def test_quantize_leaves_input_untouched_and_returns_int32(q_type):
  """quantize of a float16 [3, 100] batch, and of the same batch in float64, leaves the
  caller's array as it was and returns int32 levels of the same shape within 0 .. 255,
  the same for both (float16 -> float64 is exact). Rules out normalising in place
  (x -= min on the caller's array: np.asarray copies a float16 array but not a float64
  one), int64 levels (astype(int)), and arithmetic kept in float16 (min-max in float16
  moves some levels by one)."""
  x = np.random.default_rng(5).standard_normal((3, 100)).astype(np.float16)
  x64 = x.astype(np.float64)
  for arr in (x, x64):
    before = arr.copy()
    q = quant.quantize(arr, q_type)
    np.testing.assert_array_equal(arr, before)
    assert q.dtype == np.int32 and q.shape == x.shape
    assert q.min() >= 0 and q.max() <= 255
  np.testing.assert_array_equal(quant.quantize(x, q_type), quant.quantize(x64, q_type))


@pytest.mark.parametrize("q_type", TYPES)
def test_numpy_and_jnp_agree(q_type):
  """quantize_jnp equals quantize level for level with x64 on (same float64 arithmetic) on 4
  clips of 2000 normal samples; in float32 none is off by more than one level and at most
  0.1 % by one; dequantize with xp=jnp matches numpy to 1e-6. Rules out the jnp version
  drifting from the numpy one: another scale (256 or 255), rounding instead of truncation,
  or min-max over the whole batch instead of per clip."""
  x = np.random.default_rng(6).standard_normal((4, 2000))
  with jax.enable_x64(True):  # same float64 arithmetic: identical levels
    qj = np.asarray(quant.quantize_jnp(jnp.asarray(x), q_type))
  np.testing.assert_array_equal(qj, quant.quantize(x, q_type))
  # float32 (the default): a value within float32 rounding (~1e-7) of a level
  # boundary may land one level off; nothing else may differ. (Measured here:
  # no difference at all in 8 000 values of each type.)
  q32 = np.asarray(quant.quantize_jnp(jnp.asarray(x, jnp.float32), q_type))
  diff = np.abs(q32 - quant.quantize(x, q_type))
  assert diff.max() <= 1 and (diff > 0).mean() <= 1e-3
  # dequantize with xp=jnp equals the numpy version (float32, 1e-6)
  q = np.arange(256, dtype=np.int32)
  np.testing.assert_allclose(np.asarray(quant.dequantize(jnp.asarray(q), q_type, xp=jnp)),
                             quant.dequantize(q, q_type), atol=1e-6)


def test_frame_input_formula():
  """frame_input maps levels 0 .. 255 to (q / 128 - 1) * 2 (to 1e-7): exactly -2 at 0, 0 at
  128 and 1.984375 at 255. Rules out the factor 2 dropped (range [-1, 1]), level centres
  (q + 0.5) fed in its place, and a divisor of 127.5."""
  q = np.arange(256, dtype=np.int32)
  got = np.asarray(quant.frame_input(jnp.asarray(q)))
  np.testing.assert_allclose(got, (q / 128 - 1) * 2, atol=1e-7)
  assert got[0] == -2.0 and got[128] == 0.0 and got[255] == pytest.approx(1.984375)


def test_unknown_q_type_names_the_key():
  """quantize, quantize_jnp and dequantize with q_type 'ulaw' each raise ValueError naming
  q_type='ulaw'. Rules out a missing check in any of them, through which any name but
  'linear' and 'mu-law' falls into the else branch and is (de)quantised as a-law
  silently, and a scheme look-up that raises a bare KeyError."""
  with pytest.raises(ValueError, match=r"q_type='ulaw'"):
    quant.quantize(np.zeros((1, 4)), "ulaw")
  with pytest.raises(ValueError, match=r"q_type='ulaw'"):
    quant.quantize_jnp(jnp.zeros((1, 4)), "ulaw")
  with pytest.raises(ValueError, match=r"q_type='ulaw'"):
    quant.dequantize(np.arange(4, dtype=np.int32), "ulaw")


@pytest.mark.parametrize("x", [
    [[0.1, np.nan, 0.2]], [[0.1, np.inf, 0.2]], [[-1e308, 0.0, 1e308]],
], ids=["nan", "inf", "span_overflows"])
def test_quantize_refuses_what_has_no_levels(x):
  """Rules out levels made from NaN: a clip with NaN or Inf, or one whose
  max - min overflows float64 (samples near +-1e308), normalised to NaN and
  cast to int32 (a garbage level, e.g. -2**31, that an embedding look-up
  would clamp silently)."""
  with pytest.raises(ValueError, match="NaN or Inf, or its max - min overflows"):
    quant.quantize(np.array(x), "linear")
  q = quant.quantize(np.array([[-4e307, 0.0, 4e307]]), "linear")  # within range: valid
  assert q.tolist() == [[0, 128, 255]]  # int(0.5 * (256 - 1e-5) + 5e-6) = 128
