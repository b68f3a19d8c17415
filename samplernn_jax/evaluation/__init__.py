"""The paper's evaluation of generated acoustic scenes, built in.

Kong et al. (ICASSP 2019) judge generated scenes with a log-mel scene
classifier: ``f_real`` (trained on real scenes) is scored on real test scenes
and on generated ones, ``f_gen`` (trained on generated scenes) on real test
scenes. We add the Frechet distance between the classifier's embeddings of
real and generated scenes, overall and per class.

Modules, one job each:

* ``features``: log-mel features (64 bands, 16 kHz) and 5-second windows;
* ``classifier``: the compact CNN (Flax linen), its Adam training loop and
  its orbax checkpoint;
* ``frechet``: Gaussian statistics and the Frechet distance;
* ``samples``: reading a directory of generated clips (``manifest.json``);
* ``report``: atomic file writing, figures and ``report.html``;
* ``run``: the whole evaluation, as ``evaluate.py`` runs it.
"""
