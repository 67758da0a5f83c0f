"""Recovery and geometry metrics (paper §3, §3.4, A.10; SynthSAEBench MCC).

All functions are pure and jittable on one model; :func:`evaluate` bundles them and
the sweep maps it over stacked models.  Reconstruction metrics use BatchTopK over the
whole evaluation set at the model's k ("batch" mode, as in training); the ``*_thr``
variants use the running inference threshold ("threshold" mode).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from .sae import Params, decode, encode, encode_threshold, unit_decoder

RECOVERED_COS = 0.9


def cos_matrix(params: Params, features: jax.Array) -> jax.Array:
    """Signed cosines ``[h, g]`` between decoder rows and true features."""
    f = features / jnp.linalg.norm(features, axis=-1, keepdims=True)
    return unit_decoder(params) @ f.T


def match(abs_cos: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Hungarian matching of latents to features maximising total ``|cos|``.

    Args:
      abs_cos: ``[h, g]``.

    Returns:
      ``(latent_idx, feature_idx)``, each of length ``min(h, g)``, sorted by feature.
    """
    rows, cols = optax.assignment.hungarian_algorithm(-abs_cos)
    order = jnp.argsort(cols)
    return rows[order], cols[order]


def mcc(abs_cos: jax.Array) -> jax.Array:
    """Mean ``|cos|`` over the Hungarian matching (SynthSAEBench MCC), in [0, 1]."""
    rows, cols = match(abs_cos)
    return jnp.mean(abs_cos[rows, cols])


def c_dec(params: Params) -> jax.Array:
    """Mean ``|cos|`` over all pairs ``i < j`` of decoder rows (paper §3.4, c_dec).

    A single-latent SAE has no pairs; its c_dec is defined as 0.
    """
    w = unit_decoder(params)
    h = w.shape[0]
    if h < 2:
        return jnp.zeros((), w.dtype)
    c = jnp.abs(w @ w.T)
    return (jnp.sum(c) - jnp.trace(c)) / (h * (h - 1))


def s_n_dec(params: Params, x: jax.Array, n: int) -> jax.Array:
    """Decoder-projection metric s_n^dec (paper A.10).

    ``Z = (x − b_dec) Ŵ_decᵀ`` ``[b, h]``, flattened and sorted descending; the element
    at 0-based index ``n · b``.

    Args:
      params: parameter dict.
      x: ``[b, d]`` inputs.
      n: static, well above the L0 range and below h/2.
    """
    z = ((x - params["b_dec"]) @ unit_decoder(params).T).ravel()
    top = jax.lax.top_k(z, n * x.shape[0] + 1)[0]
    return top[-1]


def mixing(signed_cos: jax.Array, feature: int = 0) -> jax.Array:
    """Mean signed cosine with ``feature`` of the latents matched to the *other*
    features (paper §3.1; the small toy measures f0 leaking into latents 1–4)."""
    rows, cols = match(jnp.abs(signed_cos))
    vals = signed_cos[rows, feature]
    keep = cols != feature
    return jnp.sum(jnp.where(keep, vals, 0.0)) / jnp.sum(keep)


def reconstruction(params: Params, x: jax.Array, acts: jax.Array) -> dict[str, jax.Array]:
    """MSE, variance explained, L0, shrinkage and dead latents for given activations.

    MSE is the mean over samples of ``Σ_d (x̂ − x)²``; variance explained is
    ``1 − E‖x − x̂‖² / E‖x‖²`` (not mean-centred, paper §3.3); shrinkage is the mean of
    ``‖x̂‖ / ‖x‖`` over inputs with ``x ≠ 0``; dead latents never fire on ``x``.
    """
    x_hat = decode(params, acts)
    err = jnp.sum((x_hat - x) ** 2, axis=-1)
    sq = jnp.sum(x**2, axis=-1)
    nz = sq > 0
    ratio = jnp.linalg.norm(x_hat, axis=-1) / jnp.where(nz, jnp.sqrt(sq), 1.0)
    return dict(
        mse=jnp.mean(err),
        variance_explained=1.0 - jnp.sum(err) / jnp.sum(sq),
        l0=jnp.mean(jnp.sum(acts > 0, axis=-1)),
        shrinkage=jnp.sum(jnp.where(nz, ratio, 0.0)) / jnp.maximum(jnp.sum(nz), 1),
        dead_latents=jnp.sum(~jnp.any(acts > 0, axis=0)),
    )


def evaluate(
    params: Params,
    k: jax.Array,
    threshold: jax.Array,
    features: jax.Array,
    x: jax.Array,
    s_n: tuple[int, ...] = (),
    mixing_feature: int = 0,
) -> dict[str, jax.Array]:
    """Every metric of one SAE against the true features on an evaluation set.

    Args:
      params: parameter dict of one SAE.
      k: its k (batch mode over the whole evaluation set).
      threshold: its running inference threshold.
      features: ``[g, d]`` true features.
      x: ``[n, d]`` evaluation inputs.
      s_n: values of n for s_n^dec (static).
      mixing_feature: feature whose leakage :func:`mixing` measures.

    Returns:
      Dict of scalars and arrays: ``mcc``, ``n_recovered``, ``best_cos [g]``,
      ``cos [h, g]``, ``c_dec``, ``mse``, ``variance_explained``, ``l0``,
      ``dead_latents``, ``shrinkage``, ``mixing``, ``mse_thr``, ``l0_thr``,
      ``s{n}_dec`` for each n.
    """
    cos = cos_matrix(params, features)
    abs_cos = jnp.abs(cos)
    best = jnp.max(abs_cos, axis=0)
    out = dict(
        cos=cos,
        best_cos=best,
        mcc=mcc(abs_cos),
        n_recovered=jnp.sum(best > RECOVERED_COS),
        c_dec=c_dec(params),
        mixing=mixing(cos, mixing_feature),
    )
    out.update(reconstruction(params, x, encode(params, x, k)[0]))
    thr = reconstruction(params, x, encode_threshold(params, x, threshold))
    out.update(mse_thr=thr["mse"], l0_thr=thr["l0"])
    for n in s_n:
        out[f"s{n}_dec"] = s_n_dec(params, x, n)
    return out
