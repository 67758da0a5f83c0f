"""Firing-based recovery metrics: per-latent precision, recall and F1, uniqueness, and
absorption on hierarchy toys.

Definitions follow SAELens's synthetic evaluation (``sae_lens/synthetic/evals.py``,
SAELens 6.54; SynthSAEBench, arXiv 2602.14687) where it has them:

- **uniqueness**: each latent's best match is the true feature with the largest
  ``|cos|`` to its decoder row (argmax, not the Hungarian matching, under which it would
  always be 1); uniqueness is the number of distinct best-matched features over the
  number of latents, in (0, 1].
- **precision / recall / F1**: a latent *fires* when its activation is nonzero; it is
  compared with the firing of its best-matched feature over the evaluation inputs.
  Per latent, ``P = TP / (TP + FP)``, ``R = TP / (TP + FN)``, ``F1 = 2PR / (P + R)``,
  each 0 where undefined; the reported values are means over **all** latents, dead
  ones included (averaging over matched pairs only would flatter wide dictionaries).

Absorption (ours; after Chanin et al. 2024, "A is for Absorption", arXiv 2409.14507):
for every parent → child edge of a hierarchy toy, with latents assigned to features by
the Hungarian matching of :func:`toysae.metrics.match`,

- **absorption**: among inputs where the parent feature fires and the child's latent
  fires, the fraction where the parent's latent is silent; averaged over the edges
  with at least one such input.  0 when the parent latent always fires with it.
- **absorption_cos**: the signed cosine between the child latent's decoder row and the
  parent feature, averaged over the edges: how much of the parent direction the child
  latent carries.

Activations are the architecture's inference mode (``Arch.infer``: one input at a time,
BatchTopK with its running threshold).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def uniqueness(abs_cos: jax.Array) -> jax.Array:
    """Distinct argmax-matched features over the number of latents.

    Args:
      abs_cos: ``[h, g]`` absolute cosines of decoder rows against true features.

    Examples:
      >>> round(float(uniqueness(jnp.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.7]]))), 4)  # 2/3
      0.6667
    """
    h, g = abs_cos.shape
    hit = jnp.zeros(g, bool).at[jnp.argmax(abs_cos, axis=1)].set(True)
    return jnp.sum(hit) / h


def detection(abs_cos: jax.Array, latent_fires: jax.Array,
              feature_fires: jax.Array) -> dict[str, jax.Array]:
    """Mean per-latent precision, recall and F1 of latent firing against the firing of
    each latent's argmax-matched feature (module docstring).

    Args:
      abs_cos: ``[h, g]`` absolute cosines.
      latent_fires: ``[n, h]`` bool, latent activation nonzero.
      feature_fires: ``[n, g]`` bool, true feature firing.

    Returns:
      ``{"precision", "recall", "f1"}``, means over all h latents.

    Examples:
      >>> cos = jnp.eye(2)
      >>> lat = jnp.array([[True, False], [True, True], [False, False]])
      >>> true = jnp.array([[True, False], [False, True], [False, False]])
      >>> {k: round(float(v), 3) for k, v in detection(cos, lat, true).items()}
      {'precision': 0.75, 'recall': 1.0, 'f1': 0.833}
    """
    best = jnp.argmax(abs_cos, axis=1)  # [h]
    truth = feature_fires[:, best]  # [n, h]
    tp = jnp.sum(latent_fires & truth, axis=0)
    fp = jnp.sum(latent_fires & ~truth, axis=0)
    fn = jnp.sum(~latent_fires & truth, axis=0)
    p = jnp.where(tp + fp > 0, tp / jnp.maximum(tp + fp, 1), 0.0)
    r = jnp.where(tp + fn > 0, tp / jnp.maximum(tp + fn, 1), 0.0)
    f1 = jnp.where(p + r > 0, 2 * p * r / jnp.where(p + r > 0, p + r, 1.0), 0.0)
    return {"precision": jnp.mean(p), "recall": jnp.mean(r), "f1": jnp.mean(f1)}


def absorption(cos: jax.Array, latent_of: jax.Array, latent_fires: jax.Array,
               feature_fires: jax.Array, edges: jax.Array) -> dict[str, jax.Array]:
    """Absorption of parents into children's latents (module docstring).

    Args:
      cos: ``[h, g]`` signed cosines of decoder rows against true features.
      latent_of: ``[g]`` the latent matched to each feature (Hungarian), −1 if none.
      latent_fires: ``[n, h]`` bool.
      feature_fires: ``[n, g]`` bool.
      edges: ``[E, 2]`` int (parent, child) pairs.

    Returns:
      ``{"absorption", "absorption_cos"}`` (NaN-free: 0 when no edge qualifies).

    Examples:
      >>> lat = jnp.array([[False, True], [True, True], [False, True]])  # latents 0, 1
      >>> true = jnp.array([[True, True], [True, True], [True, True]])   # parent 0, child 1
      >>> cos = jnp.array([[1.0, 0.0], [0.5, 0.8]])
      >>> out = absorption(cos, jnp.array([0, 1]), lat, true, jnp.array([[0, 1]]))
      >>> round(float(out["absorption"]), 3), float(out["absorption_cos"])
      (0.667, 0.5)
    """
    parent, child = edges[:, 0], edges[:, 1]
    lp, lc = latent_of[parent], latent_of[child]
    ok = (lp >= 0) & (lc >= 0)
    lp, lc = jnp.maximum(lp, 0), jnp.maximum(lc, 0)
    cond = feature_fires[:, parent] & latent_fires[:, lc]  # [n, E]
    silent = ~latent_fires[:, lp]
    n_cond = jnp.sum(cond, axis=0)
    rate = jnp.sum(cond & silent, axis=0) / jnp.maximum(n_cond, 1)
    use = ok & (n_cond > 0)
    comp = cos[lc, parent]
    return {"absorption": jnp.sum(jnp.where(use, rate, 0.0)) / jnp.maximum(jnp.sum(use), 1),
            "absorption_cos": jnp.sum(jnp.where(ok, comp, 0.0)) / jnp.maximum(jnp.sum(ok), 1)}
