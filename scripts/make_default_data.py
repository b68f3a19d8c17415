"""Rebuilds data/default (the bundled training scenes) from 0 A.D.'s ambient audio.

  apt-get download 0ad-data            # Debian 12 "bookworm": 0ad-data 0.0.26-1
  dpkg-deb -x 0ad-data_0.0.26-1_all.deb 0ad-data
  python scripts/make_default_data.py --src 0ad-data --out data/default --overwrite

--src may be the folder dpkg-deb extracted, the public.zip inside it
(usr/share/games/0ad/mods/public/public.zip), or a folder where that zip was
unpacked (holding audio/ambient/). Each source file listed in CLASSES is read
with soundfile, averaged to mono, resampled to 16 kHz with
scipy.signal.resample_poly, trimmed of its quiet lead-in / fade-out, scaled to a
common loudness (RMS -30 dBFS, peak at most 0.95), cut into equal pieces of at
most --piece_seconds and written as OGG Vorbis. The audio is Copyright Wildfire
Games, CC BY-SA 3.0: see data/README.md for the attribution that must go with it.
"""
import io
import os
import shutil
import sys
import zipfile

import numpy as np
import soundfile as sf
from absl import app, flags
from scipy.signal import resample_poly

from samplernn_jax import cli
from samplernn_jax.errors import DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_RATE = 16000
TARGET_RMS_DB = -30.0
PEAK_MAX = 0.95
TRIM_BELOW_DB = 30.0  # lead-in / fade-out frames this far below the file's RMS go
TRIM_FRAME_S = 0.05
ZIP_IN_DEB = "usr/share/games/0ad/mods/public/public.zip"

# class id -> source files under audio/ambient/ of 0 A.D.'s public mod.
# Left out on purpose (found by cross-correlating 3 s chunks of every pair):
# day_temperate_gen_01/02 (one mix twice, at -65 dBFS, layered from the same
# loops as day_temperate_1x and _gen_03), waterfall_31 (the recording of
# river_raging_21), amb_*_20 (10 s cut-downs of the other amb_* files),
# day_tropical_1x (62 s of one loop), thunder / wind gust / wind leaves (one-shots).
CLASSES = {
  "forest_day": ["dayscape/day_temperate_11.ogg", "dayscape/day_temperate_12.ogg",
                 "dayscape/day_temperate_13.ogg", "dayscape/day_temperate_14.ogg",
                 "dayscape/day_temperate_gen_03.ogg"],
  "rain": ["weather/rain_11.ogg", "weather/rain_12.ogg"],
  "town": ["building/amb_farm_10.ogg", "building/amb_farm_11.ogg",
           "building/amb_farm_12.ogg", "building/amb_farm_13.ogg",
           "building/amb_port_10.ogg", "building/amb_port_11.ogg",
           "building/amb_port_12.ogg", "building/amb_port_21.ogg",
           "building/amb_trade_10.ogg", "building/amb_trade_11.ogg",
           "building/amb_trade_12.ogg", "building/amb_trade_13.ogg"],
  "water": ["water/river_fast_21.ogg", "water/river_med_21.ogg",
            "water/river_slow_21.ogg", "water/river_raging_21.ogg",
            "water/wave_21.ogg", "water/wavecrash_21.ogg", "water/waverocky_21.ogg"],
  "wind": ["weather/wind_11.ogg", "weather/windstorm_11.ogg",
           "weather/snowstorm_11.ogg"],
}

_SRC = flags.DEFINE_string(
    "src", None, "dpkg-deb -x folder of 0ad-data, its public.zip, or the unpacked zip",
    required=True)
_OUT = flags.DEFINE_string("out", "data/default", "output folder (one sub-folder per class)")
_PIECE_SECONDS = flags.DEFINE_float(
    "piece_seconds", 30.0, "longer sources are cut into equal pieces of at most this length")
_QUALITY = flags.DEFINE_float(
    "quality", 0.4, "Vorbis quality in [0, 1] (soundfile compression_level = 1 - quality)")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "replace an existing --out")


class Source:
  """Reads audio/ambient/<rel> from a deb extraction, the zip, or the unpacked zip."""

  def __init__(self, src):
    self.zip = None
    self.dir = None
    deb_zip = os.path.join(src, ZIP_IN_DEB)
    if os.path.isfile(src) and zipfile.is_zipfile(src):
      self.zip = zipfile.ZipFile(src)
    elif os.path.isfile(deb_zip):
      self.zip = zipfile.ZipFile(deb_zip)
    elif os.path.isdir(os.path.join(src, "audio", "ambient")):
      self.dir = src
    else:
      raise FileNotFoundError(f"--src {src}: neither public.zip, nor a folder holding "
                              f"{ZIP_IN_DEB}, nor one holding audio/ambient/")

  def missing(self, rels):
    """The files of ``rels`` (under audio/ambient/) this source does not hold."""
    names = set(self.zip.namelist()) if self.zip is not None else None
    return [rel for rel in rels
            if ("audio/ambient/" + rel not in names if names is not None
                else not os.path.isfile(os.path.join(self.dir, "audio", "ambient", rel)))]

  def read(self, rel):
    name = "audio/ambient/" + rel
    try:
      if self.zip is not None:
        return sf.read(io.BytesIO(self.zip.read(name)), dtype="float64", always_2d=True)
      return sf.read(os.path.join(self.dir, name), dtype="float64", always_2d=True)
    except (KeyError, RuntimeError, OSError) as e:  # soundfile's errors are RuntimeErrors
      raise DataError(f"--src: {name}: cannot read it ({e})") from e


def to_mono_16k(x, sr):
  x = x.mean(axis=1)
  g = np.gcd(int(sr), SAMPLE_RATE)
  return resample_poly(x, SAMPLE_RATE // g, int(sr) // g)


def trim(x):
  """Drops leading / trailing frames more than TRIM_BELOW_DB under the file's RMS."""
  n = int(TRIM_FRAME_S * SAMPLE_RATE)
  frames = x[:len(x) // n * n].reshape(-1, n)
  rms = np.sqrt((frames ** 2).mean(axis=1)) + 1e-12
  loud = np.nonzero(20 * np.log10(rms / (np.sqrt((x ** 2).mean()) + 1e-12))
                    > -TRIM_BELOW_DB)[0]
  return x[loud[0] * n:(loud[-1] + 1) * n]


def level(x):
  rms = np.sqrt((x ** 2).mean())
  gain = min(10 ** (TARGET_RMS_DB / 20) / rms, PEAK_MAX / np.abs(x).max())
  return x * gain


def pieces(x, piece_seconds):
  k = int(np.ceil(len(x) / (piece_seconds * SAMPLE_RATE)))
  edges = np.linspace(0, len(x), k + 1).round().astype(int)
  return [x[a:b] for a, b in zip(edges[:-1], edges[1:])]


def _write_class(src, out, cls, files, piece_seconds, quality):
  """Writes one class's pieces into ``out/cls``; returns its seconds of audio."""
  os.makedirs(os.path.join(out, cls))
  secs = 0.0
  for rel in files:
    x, sr = src.read(rel)
    y = level(trim(to_mono_16k(x, sr)))
    stem = os.path.splitext(os.path.basename(rel))[0]
    parts = pieces(y, piece_seconds)
    for i, part in enumerate(parts):
      name = f"{stem}.ogg" if len(parts) == 1 else f"{stem}_p{i + 1}.ogg"
      sf.write(os.path.join(out, cls, name), np.clip(part, -1, 1), SAMPLE_RATE,
               format="OGG", subtype="VORBIS", compression_level=1.0 - quality)
    secs += len(y) / SAMPLE_RATE
    print(f"{cls:11s} {rel:40s} {x.shape[1]}ch {sr} Hz {len(x) / sr:6.1f}s -> "
          f"{len(y) / SAMPLE_RATE:6.1f}s in {len(parts)} file(s)")
  print(f"{cls:11s} total {secs:6.1f}s")
  return secs


def _run():
  """Checks every source, writes the classes into a folder beside --out, and
  only then replaces --out: a failure leaves the earlier data as it was."""
  out = os.path.normpath(_OUT.value)
  real = os.path.realpath(out)
  if os.path.basename(out) in ("", ".", "..") or any(  # replaced, it would take these along
      os.path.commonpath([real, os.path.realpath(p)]) == real for p in (os.getcwd(), REPO)):
    raise ValueError(f"--out {_OUT.value!r}: expected a folder of its own to create or "
                     "replace (e.g. data/default), not the root, the working directory, "
                     "the checkout or a folder above them")
  src = Source(_SRC.value)
  if os.path.exists(out) and not _OVERWRITE.value:
    raise FileExistsError(f"--out {out} exists (pass --overwrite to replace it)")
  missing = src.missing([rel for files in CLASSES.values() for rel in files])
  if missing:
    raise DataError(f"--src {_SRC.value}: lacks {len(missing)} of the sources under "
                    f"audio/ambient/ ({', '.join(missing)}); expected 0ad-data 0.0.26 "
                    "(data/README.md)")
  stage, old = f"{out}.tmp-{os.getpid()}", f"{out}.old-{os.getpid()}"
  try:
    total = sum(_write_class(src, stage, cls, files, _PIECE_SECONDS.value, _QUALITY.value)
                for cls, files in CLASSES.items())
    # renames only, then the delete: a delete that fails part-way (a file
    # another process holds open on NFS) leaves the new data in place
    try:
      if os.path.exists(out):
        os.replace(out, old)
      os.replace(stage, out)
    except BaseException:  # Ctrl-C between the renames too: the earlier data back
      if os.path.exists(old) and not os.path.exists(out):
        os.replace(old, out)
      raise
  finally:
    shutil.rmtree(stage, ignore_errors=True)
  shutil.rmtree(old, ignore_errors=True)
  if os.path.exists(old):
    print(f"warning: could not remove the earlier data, moved to {old}", file=sys.stderr)
  print(f"all classes {total:.1f}s in {out}")


def main(argv=None):
  """make_default_data.py in this process (flags only; every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
