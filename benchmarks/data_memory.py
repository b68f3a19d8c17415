"""Peak memory of one epoch of the data pipeline over a paper-sized train file.

  python benchmarks/data_memory.py [--clips 5860] [--path /tmp/samplernn_standin/audio_train.npz]

Writes (once; again when the file there is not a whole stand-in of --clips
clips, e.g. one a Ctrl-C cut short) a stand-in of the paper's audio_train.npz: float16 wav
[clips, 128000] (about 1.5 GB for 5 860 clips) and uint8 sid, then iterates
every step of one epoch as training does (batch 128, seq_len 1024: each batch
of clips read from the memory map, quantised, chunked) and prints JSON with
the file size, the steps, the wall time and the peak RSS of the process, split
into anonymous memory and file-backed pages of the memory map.
"""
import json
import os
import resource
import time


import numpy as np
from absl import app, flags

from samplernn_jax import cli, data, files

_CLIPS = flags.DEFINE_integer("clips", 5860, "clips of the stand-in train file")
_PATH = flags.DEFINE_string("path", "/tmp/samplernn_standin/audio_train.npz",
                            "the stand-in file (written once, reused after)")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "clips per batch")


def standin_ok(path, clips) -> bool:
  """Whether ``path`` holds a whole stand-in of ``clips`` clips."""
  try:
    return data.load_split(path, 15).num_clips == clips
  except (data.DataError, OSError, ValueError):
    return False


def write_standin(path, clips, clip_len=128000, rows=256):
  """np.savez-compatible file written a block at a time (never all in RAM),
  under a temporary name first (``files.atomic_write``): an interrupted
  write leaves no stand-in."""
  import zipfile
  rng = np.random.default_rng(0)

  def write(tmp):
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
      with zf.open("wav.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
                "fortran_order": False, "shape": (clips, clip_len)})
        for start in range(0, clips, rows):
          n = min(rows, clips - start)
          f.write((rng.standard_normal((n, clip_len)) * 0.1).astype(np.float16).tobytes())
      with zf.open("sid.npy", "w") as f:
        np.lib.format.write_array(f, rng.integers(0, 15, clips).astype(np.uint8))
  files.atomic_write(path, write)


def rss_parts():
  """(anonymous, file-backed) resident bytes: the memory map's pages are the
  second kind, page cache the kernel can drop, not a copy of the data."""
  parts = {}
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith(("RssAnon:", "RssFile:")):
        key, val, _ = line.split()
        parts[key] = int(val) * 1024
  return parts.get("RssAnon:", 0), parts.get("RssFile:", 0)


def _run():
  path = _PATH.value
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if not standin_ok(path, _CLIPS.value):
    write_standin(path, _CLIPS.value)
  rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
  t0 = time.time()
  split = data.load_split(path, 15)
  batches = data.TrainBatches(split, _BATCH_SIZE.value, 1024, 16, "linear", 256, seed=0)
  peak_anon = peak_file = 0
  for step in range(batches.steps_per_epoch):
    batches.get(step)
    if step % batches.chunks_per_batch == 0:
      anon, file_ = rss_parts()
      peak_anon, peak_file = max(peak_anon, anon), max(peak_file, file_)
  print(json.dumps({
      "file_bytes": os.path.getsize(path), "clips": split.num_clips,
      "memmapped": isinstance(split.wav, np.memmap), "steps": batches.steps_per_epoch,
      "wall_s": round(time.time() - t0, 1),
      "peak_rss_bytes_before": rss0,
      "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
      "peak_rss_anon_bytes": peak_anon, "peak_rss_file_bytes": peak_file}))


def main(argv=None):
  """data_memory.py in this process (flags only; every call starts from the defaults)."""
  cli.call(_run, argv)


if __name__ == "__main__":
  app.run(cli.absl_main(_run), flags_parser=cli.parse_flags)
