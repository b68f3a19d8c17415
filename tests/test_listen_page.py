"""The committed listening page (docs/listen/index.html) works in a browser.

It is opened from disk in headless Chromium (Debian's ``chromium``, which
``.ci/run`` installs): every ``<audio>`` element must load its source's
metadata (a playable Ogg Vorbis file of non-zero duration) and every image
must load with a non-zero size. Where Chromium is not installed the test is
skipped, except under CI (``CI`` set), where that is a failure.
"""
import html.parser
import json
import os
import re
import shutil
import subprocess

import pytest
import soundfile as sf

from conftest import REPO, run_scripts

PAGE = os.path.join(REPO, "docs", "listen", "index.html")
PAGE_SCRIPT = "scripts/make_listening_page.py"

HARNESS = """<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="f" src="PAGE_URL"></iframe>
<script>
document.getElementById('f').onload = async function () {
  const doc = this.contentDocument;
  const audios = Array.from(doc.querySelectorAll('audio'));
  const imgs = Array.from(doc.querySelectorAll('img'));
  const audioResults = await Promise.all(audios.map(a => new Promise(resolve => {
    const done = ok => resolve({src: a.getAttribute('src'), ok: ok,
                                duration: a.duration, canPlay: a.canPlayType('audio/ogg; codecs="vorbis"')});
    if (a.readyState >= 1) { done(true); return; }
    a.addEventListener('loadedmetadata', () => done(true));
    a.addEventListener('error', () => done(false));
    a.preload = 'metadata'; a.load();
  })));
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = r; i.onerror = r; })));
  const imgResults = imgs.map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}));
  document.getElementById('out').textContent = 'RESULT' + JSON.stringify({audio: audioResults, img: imgResults}) + 'END';
};
</script></body></html>
"""


class _Refs(html.parser.HTMLParser):
  def __init__(self):
    super().__init__()
    self.refs = []

  def handle_starttag(self, tag, attrs):
    if tag in ("audio", "img", "source"):
      self.refs += [(tag, v) for k, v in attrs if k == "src"]


def _refs(path=PAGE):
  p = _Refs()
  with open(path, encoding="utf-8") as f:
    p.feed(f.read())
  return p.refs


def test_page_files_exist_and_are_small_oggs():
  """Every path on the page is relative and exists; clips are Ogg Vorbis,
  16 kHz mono, at most 10 s and 200 kB each (rules out absolute paths that
  work only on the machine that built the page, and WAVs that bloat the repo)."""
  refs = _refs()
  audio = [v for t, v in refs if t == "audio"]
  assert len(audio) >= 10 and any(t == "img" for t, _ in refs)
  for _, v in refs:
    assert not os.path.isabs(v) and "://" not in v, v
    path = os.path.join(os.path.dirname(PAGE), v)
    assert os.path.isfile(path), v
  for v in audio:
    path = os.path.join(os.path.dirname(PAGE), v)
    info = sf.info(path)
    assert (info.format, info.subtype, info.samplerate, info.channels) == (
        "OGG", "VORBIS", 16000, 1), v
    assert 0 < info.duration <= 10 and os.path.getsize(path) <= 200_000, v


def _chromium():
  for name in ("chromium", "chromium-browser", "google-chrome"):
    if shutil.which(name):
      return shutil.which(name)
  return None


def test_page_plays_in_headless_chromium(tmp_path):
  """Chromium loads every audio element's metadata (duration > 0) and every
  image of the page opened from disk. Rules out a source the browser cannot
  decode, a broken relative path and a missing figure."""
  exe = _chromium()
  if exe is None:
    if os.environ.get("CI"):
      pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
    pytest.skip("chromium not installed (apt-get install chromium)")
  harness = tmp_path / "harness.html"
  harness.write_text(HARNESS.replace("PAGE_URL", "file://" + PAGE))
  cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--mute-audio",
         "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=20000", "--dump-dom", "file://" + str(harness)]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
  m = re.search(r"RESULT(.*)END", proc.stdout)
  assert m, (proc.stdout[-2000:], proc.stderr[-2000:])
  res = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
  assert len(res["audio"]) == sum(t == "audio" for t, _ in _refs())
  bad = [a for a in res["audio"] if not (a["ok"] and a["duration"] and a["duration"] > 0)]
  assert not bad, bad
  assert res["img"] and all(i["ok"] for i in res["img"]), res["img"]


def test_page_script_refuses_to_replace_the_shipped_figure(tmp_path):
  """A page of your own clips into a new folder, --figure left at its
  default (the shipped docs/spectrograms.png): refused with one line naming
  the figure, before any work, the shipped figure unchanged. Rules out the
  check covering index.html only, which let the script overwrite the
  README's figure with the user's clips, silently."""
  figure = os.path.join(REPO, "docs", "spectrograms.png")
  before = open(figure, "rb").read()
  p, = run_scripts([([PAGE_SCRIPT, "--samples", "s", "--data_dir", "d", "--out",
                      tmp_path / "listen"], None, None)])
  assert p.returncode == 2, p.stderr[-2000:]
  assert "error: docs/spectrograms.png exists; pass --overwrite to replace the figure" in p.stderr
  assert open(figure, "rb").read() == before and not (tmp_path / "listen").exists()


def test_page_overwritten_with_fewer_clips_leaves_no_stale_clip(tmp_path, small_dataset):
  """The page made with --clips 3 (two generated and one real clip a class
  there), then again with --clips 1 --overwrite: clips/ holds exactly the
  clips the new page plays (one real and one generated a class), a file of
  the user's there is left, and the page says how many clips it holds
  ('up to 2', not 3), and the shortest clip's length where one is shorter
  than --seconds; each ogg holds the first --seconds of its clip. Rules out
  the earlier page's *_1.ogg staying beside the new page, unplayed (a later
  reader cannot tell which clips the page was made from), an intro that
  repeats --clips, and whole clips written where the page says the first
  0.01 s."""
  import numpy as np
  samples = tmp_path / "samples"
  samples.mkdir()
  for c in range(4):  # small_dataset's classes are named 0..3
    for k in range(2):
      sf.write(str(samples / f"{c}_{k:03d}.wav"), 0.1 * np.ones(256), 16000)
  out = tmp_path / "listen"
  args = [PAGE_SCRIPT, "--samples", str(samples), "--data_dir", small_dataset, "--out",
          str(out), "--figure", str(tmp_path / "fig.png"), "--seconds", "0.01"]
  for extra in (["--clips", "3"], ["--clips", "1", "--overwrite"]):
    p, = run_scripts([(args + extra, None, None)])
    assert p.returncode == 0, p.stderr[-2000:]
    if extra[1] == "3":
      assert len(os.listdir(out / "clips")) == 12  # real: the test split's one a class
      # fewer clips than --clips: the page says what it holds (not 'up to 3 clips per class',
      # and not '2 clips per class': one real clip a class)
      assert "<p>up to 2 clips per class, the first 0.01 s" in (out / "index.html").read_text()
      (out / "clips" / "notes.txt").write_text("mine")
      sf.write(str(samples / "0_000.wav"), 0.1 * np.ones(100), 16000)  # shorter than 0.01 s
  played = sorted(os.path.basename(src) for tag, src in _refs(out / "index.html")
                  if tag == "audio")
  assert played == sorted(f"{kind}_{c}_0.ogg" for kind in ("real", "generated")
                          for c in range(4))
  assert sorted(os.listdir(out / "clips")) == sorted(played + ["notes.txt"])
  # the page says what it holds: one clip a class now (it said 'up to 2' before),
  # and that one is shorter than 0.01 s (class 0's generated clip, made 100 samples)
  assert ("<p>1 clip per class, the first 0.01 s of each (the shortest clip 0.00625 s): real"
          in (out / "index.html").read_text())
  # each clip cut to the first 0.01 s (160 samples), or shorter where it is
  frames = {f: sf.info(str(out / "clips" / f)).frames for f in played}
  assert frames == {f: 100 if f == "generated_0_0.ogg" else 160 for f in played}, frames


def test_page_script_refuses_counts_and_lengths_it_cannot_show(tmp_path):
  """--clips 0 and --seconds -2 are one error line each (exit 2), before any
  data is read and with nothing written. Rules out the page written with
  '(none)' in every cell, or with the real clips' all but last 2 s (Python's
  negative slice) described as 'the first -2 s'."""
  said = {"--clips=0": "--clips=0: expected at least 1",
          "--seconds=-2": "--seconds=-2.0: expected a positive number"}
  procs = run_scripts([([PAGE_SCRIPT, "--samples", "s", "--data_dir", "d", "--out",
                         tmp_path / "listen", "--figure", tmp_path / "fig.png", flag], None, None)
                       for flag in said])
  for p, line in zip(procs, said.values()):
    assert p.returncode == 2, p.stderr[-2000:]
    assert [l for l in p.stderr.splitlines() if l.startswith("error:")] == [f"error: {line}"]
  assert not any(tmp_path.iterdir())
