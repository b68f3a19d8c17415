"""The Frechet distance between Gaussians fitted to two sets of embeddings.

``d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` (the distance
of FID and of the Frechet Audio Distance), computed on the classifier's
penultimate-layer embeddings of real and generated clips.

The trace of the matrix square root is taken as ``Tr((A S_b A)^(1/2))`` with
``A = S_a^(1/2)``: ``A S_b A`` is symmetric positive semi-definite and has the
eigenvalues of ``S_a S_b``, so a symmetric eigendecomposition gives the trace
with no complex round-off. This stays defined when a set holds fewer clips
than the embedding has dimensions (a singular covariance, as with the paper's
20 generated clips a class and a 128-d embedding); such small sets bias the
distance upwards, so compare distances only between sets of equal sizes.

Shapes: N embeddings of E dimensions.
"""
from __future__ import annotations

import numpy as np


def gaussian_stats(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean float64 [E] and covariance float64 [E, E] (unbiased) of [N, E], N >= 2."""
  emb = np.asarray(emb, np.float64)
  if emb.ndim != 2 or emb.shape[0] < 2:
    raise ValueError(f"need at least 2 embeddings of shape [N, E]; got {emb.shape}")
  return emb.mean(axis=0), np.cov(emb, rowvar=False).reshape(emb.shape[1], emb.shape[1])


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
  w, v = np.linalg.eigh((s + s.T) / 2)
  return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu_a, cov_a, mu_b, cov_b) -> float:
  """Squared Frechet distance between N(mu_a, cov_a) and N(mu_b, cov_b), >= 0."""
  mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
  cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
  root_a = _psd_sqrt(cov_a)
  middle = root_a @ cov_b @ root_a
  eig = np.linalg.eigvalsh((middle + middle.T) / 2)
  tr_sqrt = np.sqrt(np.clip(eig, 0.0, None)).sum()
  d = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
            - 2.0 * tr_sqrt)
  return max(d, 0.0)


def frechet_of_sets(emb_a: np.ndarray, emb_b: np.ndarray) -> float:
  """Frechet distance (squared, as FID reports it) of [N_a, E] and [N_b, E]."""
  return frechet_distance(*gaussian_stats(emb_a), *gaussian_stats(emb_b))
