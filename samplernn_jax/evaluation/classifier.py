"""A compact log-mel CNN scene classifier: model, Adam training, orbax checkpoint.

Architecture (``SceneCNN``), for input log-mel [B, F, M] standardised per
mel band with the training set's mean and std:

* per entry of ``channels`` (default 32, 64, 128): Conv 3x3 -> GroupNorm ->
  ReLU -> Conv 3x3 -> GroupNorm -> ReLU -> 2x2 average pool ('SAME', so
  short windows never shrink to nothing): [B, F, M, 1] -> [B, F/8, M/8, 128];
* mean over time, frequency kept: [B, M/8 * 128] (1 024 features with the
  default 64 mel bands);
* Dense ``embed_dim`` (128) -> ReLU: the embedding [B, E] that the Frechet
  distance uses (penultimate layer);
* dropout (training only) -> Dense ``n_classes``: logits [B, C].

GroupNorm rather than BatchNorm keeps the model a pure function of its
parameters (no running statistics to carry). About 0.42 M parameters with the
defaults (419 173 for 5 classes and 64 mel bands).

Training: softmax cross-entropy, Adam (``learning_rate`` 1e-3), minibatches
of ``batch_size`` windows in a seeded shuffle per epoch (the last partial
batch is dropped; a set smaller than a batch is one batch). When a
validation set is given, the parameters of the epoch with the best
validation accuracy are kept (the later epoch on ties); otherwise the last epoch's.

Shapes: B batch, F frames, M mel bands, C classes, E embedding size,
N windows.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, Callable, Sequence

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp

from samplernn_jax import checkpoint as ckpt_lib


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
  """Classifier architecture and training settings."""
  channels: tuple[int, ...] = (32, 64, 128)
  embed_dim: int = 128
  dropout: float = 0.2
  epochs: int = 30
  batch_size: int = 32
  learning_rate: float = 1e-3
  seed: int = 0


class SceneCNN(nn.Module):
  """Log-mel [B, F, M] -> (logits [B, C], embedding [B, E])."""
  n_classes: int
  channels: Sequence[int] = (32, 64, 128)
  embed_dim: int = 128
  dropout: float = 0.2

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x[..., None]  # [B, F, M, 1]
    for c in self.channels:
      for _ in range(2):
        x = nn.Conv(c, (3, 3))(x)
        x = nn.GroupNorm(num_groups=min(8, c))(x)
        x = nn.relu(x)
      x = nn.avg_pool(x, (2, 2), strides=(2, 2), padding="SAME")
    x = x.mean(axis=1)  # over time: [B, M', channels[-1]]
    x = x.reshape(x.shape[0], -1)  # frequency kept: [B, M' * channels[-1]]
    emb = nn.relu(nn.Dense(self.embed_dim)(x))  # [B, E]
    h = nn.Dropout(self.dropout, deterministic=not train)(emb)
    return nn.Dense(self.n_classes)(h), emb


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # int32 [], optimizer steps taken
  params: Any  # the SceneCNN parameters
  opt_state: Any  # Adam moments
  rng: jax.Array  # root key; step t uses fold_in(rng, t) for dropout


@dataclasses.dataclass
class Classifier:
  """A trained classifier: parameters plus the input standardisation."""
  model: SceneCNN
  params: Any
  mean: np.ndarray  # float32 [M]
  std: np.ndarray  # float32 [M]
  history: list = dataclasses.field(default_factory=list)  # per-epoch metrics

  def predict(self, feats: np.ndarray, batch: int = 64
              ) -> tuple[np.ndarray, np.ndarray]:
    """Logits float32 [N, C] and embeddings float32 [N, E] of log-mel [N, F, M]."""
    return _predict(self.model, self.params, self.mean, self.std, feats, batch)

  @property
  def valid_accuracy(self) -> float | None:
    """The valid accuracy of the kept parameters (``train`` keeps the best
    epoch's), None when trained without a valid set."""
    accs = [h["valid_acc"] for h in self.history if "valid_acc" in h]
    return max(accs) if accs else None


def build_model(n_classes: int, cfg: ClassifierConfig) -> SceneCNN:
  return SceneCNN(n_classes=n_classes, channels=tuple(cfg.channels),
                  embed_dim=cfg.embed_dim, dropout=cfg.dropout)


def init_params(model: SceneCNN, n_frames: int, n_mels: int, seed: int):
  x = jnp.zeros((1, n_frames, n_mels), jnp.float32)
  return model.init(jax.random.PRNGKey(seed), x)["params"]


@functools.partial(jax.jit, static_argnums=0)
def _apply(model, params, x):
  return model.apply({"params": params}, x)


def _predict(model, params, mean, std, feats, batch):
  n = feats.shape[0]
  logits, embs = [], []
  for s in range(0, n, batch):
    x = (np.asarray(feats[s:s + batch], np.float32) - mean) / std
    k = x.shape[0]
    if k < batch:  # pad so that one shape is compiled
      x = np.concatenate([x, np.zeros((batch - k,) + x.shape[1:], np.float32)])
    lg, em = _apply(model, params, x)
    logits.append(np.asarray(lg)[:k])
    embs.append(np.asarray(em)[:k])
  return np.concatenate(logits), np.concatenate(embs)


@functools.lru_cache(maxsize=8)
def _make_train_step(model: SceneCNN, learning_rate: float):
  """The optimizer and the pure, jitted ``train_step(state, x [B, F, M], y [B])
  -> (state, metrics)``; cached, so f_real and f_gen share one compilation."""
  tx = optax.adam(learning_rate)

  def loss_fn(params, x, y, key):
    logits, _ = model.apply({"params": params}, x, train=True,
                            rngs={"dropout": key})
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, jnp.mean(jnp.argmax(logits, -1) == y)

  @functools.partial(jax.jit, donate_argnums=0)
  def train_step(state: TrainState, x, y):
    key = jax.random.fold_in(state.rng, state.step)
    (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params, x, y, key)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return (state.replace(step=state.step + 1, params=params,
                          opt_state=opt_state),
            {"loss": loss, "acc": acc})

  return tx, train_step


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
  return float(np.mean(np.argmax(logits, -1) == labels))


def train(feats: np.ndarray, labels: np.ndarray, n_classes: int,
          cfg: ClassifierConfig, valid: tuple[np.ndarray, np.ndarray] | None = None,
          log: Callable[[str], None] = print, name: str = "classifier"
          ) -> Classifier:
  """Trains a SceneCNN on log-mel windows.

  Args:
    feats: float32 [N, F, M] training windows.
    labels: int [N] classes, 0 .. n_classes - 1.
    n_classes: C.
    cfg: architecture and training settings.
    valid: optional (features [N_v, F, M], labels [N_v]) for model selection.
    log: where the per-epoch line goes.
    name: names the classifier in the log.
  """
  if feats.shape[0] == 0:
    raise ValueError(f"{name}: no training windows")
  if cfg.epochs < 1:
    raise ValueError(f"{name}: epochs must be >= 1 (got {cfg.epochs})")
  mean = feats.mean(axis=(0, 1)).astype(np.float32)  # [M]
  std = (feats.std(axis=(0, 1)) + 1e-5).astype(np.float32)  # [M]
  y_all = np.asarray(labels, np.int32)
  model = build_model(n_classes, cfg)
  params = init_params(model, feats.shape[1], feats.shape[2], cfg.seed)
  tx, train_step = _make_train_step(model, cfg.learning_rate)
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                     opt_state=tx.init(params),
                     rng=jax.random.PRNGKey(cfg.seed + 1))
  n = feats.shape[0]
  bs = min(cfg.batch_size, n)
  best_acc, best_params, history = -1.0, None, []
  for epoch in range(cfg.epochs):
    order = np.random.default_rng([cfg.seed, epoch]).permutation(n)
    metrics = []
    for s in range(0, n - bs + 1, bs):
      rows = order[s:s + bs]
      x = (feats[rows] - mean) / std  # standardised per batch: no copy of the set
      state, m = train_step(state, x, y_all[rows])
      metrics.append(m)
    m = jax.device_get(metrics)  # leaves the device once an epoch
    rec = {"epoch": epoch + 1,
           "loss": float(np.mean([r["loss"] for r in m])),
           "train_acc": float(np.mean([r["acc"] for r in m]))}
    if not np.isfinite(rec["loss"]):
      raise FloatingPointError(f"{name}: loss is {rec['loss']} at epoch {epoch + 1}")
    line = f"{name} epoch {epoch + 1}/{cfg.epochs}: loss {rec['loss']:.4f} train acc {rec['train_acc']:.3f}"
    if valid is not None:
      logits, _ = _predict(model, state.params, mean, std, valid[0], 64)
      rec["valid_acc"] = accuracy(logits, valid[1])
      line += f" valid acc {rec['valid_acc']:.3f}"
      if rec["valid_acc"] >= best_acc:  # ties: the later, more trained epoch
        best_acc, best_params = rec["valid_acc"], jax.device_get(state.params)
    history.append(rec)
    log(line)
  if best_params is None:
    best_params = jax.device_get(state.params)
  return Classifier(model=model, params=best_params, mean=mean, std=std,
                    history=history)


# ---------------------------------------------------------------------------
# Checkpoint: one orbax step holding the selected parameters, the input
# standardisation and a JSON ``meta`` (what the classifier was trained on and
# with which settings, plus its history).


def save(ckpt_dir: str, clf: Classifier, meta: dict) -> None:
  """Writes the classifier (atomically: orbax renames a finished temp dir)."""
  mgr = ckpt_lib.manager(ckpt_dir, 1)
  step = (mgr.latest_step() or 0) + 1
  state = {"params": clf.params, "mean": clf.mean, "std": clf.std}
  mgr.save(step, args=ocp.args.Composite(
      state=ocp.args.StandardSave(state),
      meta=ocp.args.JsonSave(dict(meta, history=clf.history))))
  mgr.wait_until_finished()
  mgr.close()


def read_meta(ckpt_dir: str) -> dict | None:
  """The ``meta`` of the checkpoint in ``ckpt_dir``; None when there is none."""
  if not os.path.isdir(ckpt_dir):
    return None
  mgr = ckpt_lib.manager(ckpt_dir, 1, read_only=True)
  try:
    step = mgr.latest_step()
    if step is None:
      return None
    return dict(mgr.restore(step, args=ocp.args.Composite(
        meta=ocp.args.JsonRestore())).meta)
  finally:
    mgr.close()


def restore(ckpt_dir: str, n_classes: int, cfg: ClassifierConfig,
            n_frames: int, n_mels: int) -> Classifier:
  """Loads the classifier saved by ``save`` (abstract target from eval_shape)."""
  model = build_model(n_classes, cfg)
  abstract = {
      "params": jax.eval_shape(lambda: init_params(model, n_frames, n_mels, 0)),
      "mean": jax.ShapeDtypeStruct((n_mels,), jnp.float32),
      "std": jax.ShapeDtypeStruct((n_mels,), jnp.float32)}
  mgr = ckpt_lib.manager(ckpt_dir, 1, read_only=True)
  try:
    step = mgr.latest_step()
    out = mgr.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
  finally:
    mgr.close()
  st = out.state
  return Classifier(model=model, params=st["params"],
                    mean=np.asarray(st["mean"]), std=np.asarray(st["std"]),
                    history=list(out.meta.get("history", [])))
