"""True feature directions: exactly orthogonal, near-orthogonal (paper §3, A.4.1), or
random (overlapping)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def orthogonal_features(key: jax.Array, n_features: int, dim: int) -> jax.Array:
    """``g`` mutually orthogonal unit vectors in ``R^d`` (QR of a Gaussian matrix).

    Args:
      key: JAX PRNG key.
      n_features: g, at most ``dim``.
      dim: d.

    Returns:
      ``[g, d]`` float32 array with orthonormal rows.

    Examples:
      >>> f = orthogonal_features(jax.random.key(0), 3, 5)
      >>> bool(jnp.allclose(f @ f.T, jnp.eye(3), atol=1e-5))
      True
    """
    if n_features > dim:
        raise ValueError(
            f"n_features={n_features} > dim={dim}: orthogonal features need n_features <= dim; "
            "use near-orthogonal features for superposition"
        )
    gauss = jax.random.normal(key, (dim, n_features), dtype=jnp.float32)
    q, r = jnp.linalg.qr(gauss)
    q = q * jnp.sign(jnp.diag(r))  # unique QR: a fixed sign convention
    return q.T


def random_features(key: jax.Array, n_features: int, dim: int) -> jax.Array:
    """``g`` unit vectors in random directions (Gaussian rows, normalised): pairwise
    cosines about ``±1/sqrt(d)``, so any g > 1 features overlap.

    Args:
      key: JAX PRNG key.
      n_features: g (any).
      dim: d.

    Returns:
      ``[g, d]`` float32 array with unit rows.

    Examples:
      >>> f = random_features(jax.random.key(0), 50, 20)  # g > d: superposed
      >>> bool(jnp.allclose(jnp.linalg.norm(f, axis=1), 1.0, atol=1e-6))
      True
    """
    w = jax.random.normal(key, (n_features, dim), dtype=jnp.float32)
    return w / jnp.linalg.norm(w, axis=1, keepdims=True)


def near_orthogonal_features(
    key: jax.Array,
    n_features: int,
    dim: int,
    target_cos: float = 0.0,
    steps: int = 1000,
    lr: float = 0.01,
) -> jax.Array:
    """Unit vectors whose pairwise cosines are pushed towards ``target_cos`` (paper A.4.1).

    Minimises ``Σ_{i≠j} (f_i·f_j − t)² + g·Σ_i (f_i·f_i − 1)²`` with Adam (lr 0.01,
    1000 steps in the reference), then renormalises.  With ``g > d`` the features
    necessarily overlap (superposition).

    Args:
      key: JAX PRNG key for the random start.
      n_features: g.
      dim: d.
      target_cos: t, the target pairwise cosine.
      steps: Adam steps.
      lr: Adam learning rate.

    Returns:
      ``[g, d]`` float32 array of unit rows.

    Examples:
      >>> f = near_orthogonal_features(jax.random.key(0), 8, 4)  # 8 features in R^4
      >>> f.shape, bool(jnp.allclose(jnp.linalg.norm(f, axis=1), 1.0, atol=1e-5))
      ((8, 4), True)
    """
    f0 = jax.random.normal(key, (n_features, dim), dtype=jnp.float32)
    f0 = f0 / jnp.linalg.norm(f0, axis=1, keepdims=True)
    off = 1.0 - jnp.eye(n_features)

    def loss(f):
        gram = f @ f.T
        return jnp.sum(off * (gram - target_cos) ** 2) + n_features * jnp.sum(
            (jnp.diag(gram) - 1.0) ** 2
        )

    opt = optax.adam(lr)

    def body(carry, _):
        f, state = carry
        grads = jax.grad(loss)(f)
        updates, state = opt.update(grads, state, f)
        return (optax.apply_updates(f, updates), state), None

    (f, _), _ = jax.lax.scan(body, (f0, opt.init(f0)), None, length=steps)
    return f / jnp.linalg.norm(f, axis=1, keepdims=True)
