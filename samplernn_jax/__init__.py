"""Conditional SampleRNN in JAX: a two-tier SampleRNN conditioned on a scene
class (Kong et al., ICASSP 2019), trained, sampled and evaluated.

Importing the package imports nothing else; take the modules you need:

  config         every setting (``base_config``), ``build_model``
  model          ``SampleRNN``, its tiers and ``log_probs`` (shape glossary)
  steps          ``TrainState``, ``init_state``, ``train_step``, ``chunk_cost``
  trainer        ``train_and_evaluate``: what train.py runs
  data           splits, TBPTT batches and datasets in one import
  sampling       ``generate`` (levels) and ``to_audio`` (float audio)
  sample_files   ``load_checkpoint``, ``write_samples``: what sample.py runs
  checkpoint     the orbax folders ``checkpoints/`` and ``best/``
  evaluation     the scene classifier, f_real / f_gen, Frechet distance

A second of a class from the bundled demo model, as numpy, run from the
repository root (to the bit the clip ``sample.py --demo --classes rain
--per_class 1 --seconds 1`` writes, without the files). The demo checkpoint,
configs/ and the bundled data belong to the checkout, which installs the
package editable (``pip install -e .``); a wheel holds the library only::

  import jax
  from samplernn_jax import levels, sample_files, sampling
  loaded = sample_files.load_checkpoint("demo")
  vec = sample_files.make_request(loaded.class_names, ["rain"], 1, None).class_vecs
  q, _ = sampling.generate(loaded.model, loaded.params, vec, 16000, jax.random.key(0),
                           temperature=sample_files.DEFAULT_TEMPERATURE)
  cfg = loaded.config
  audio = sampling.to_audio(q, cfg.q_type, cfg.q_levels, level="class",
                            target_rms=levels.clip_targets(vec, loaded.class_rms))

The README's "Layout of the code" lists every module; "A variant in your
own code" shows a research variant trained and sampled from Python.
"""
import sys as _sys
from importlib import metadata as _metadata

if _sys.platform == "win32":
  raise ImportError(
      "samplernn-jax runs on Linux and macOS: it locks its folders with fcntl and opens "
      "folders to lock them, which native Windows cannot; on Windows run it under WSL2 "
      "(Windows Subsystem for Linux), where JAX also reaches an NVIDIA GPU")

try:
  __version__ = _metadata.version("samplernn-jax")
except _metadata.PackageNotFoundError:  # run from a checkout that was never installed
  __version__ = "unknown"
