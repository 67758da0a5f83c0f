"""The toy-model generator: correlated sparse features with a known true L0 (paper §3)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import ndtri

from .config import ToyConfig
from .correlation import (
    cholesky_factor,
    low_rank_factor,
    pairs_correlation,
    paper_random_correlation,
)
from .features import near_orthogonal_features, orthogonal_features, random_features
from .hierarchy import HierarchyArrays, build_tree, exact_marginals
from .treewalk import TreeWalk
from .validation import check_correlation_matrix, refuse_if_over_memory


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class ToyModel:
    """Arrays of a toy model; a pytree, so it can be passed into jitted code.

    Attributes:
      features: ``[g, d]`` unit true feature directions F (rows).
      probs: ``[g]`` sampling probabilities p_i of the copula (the firing
        probabilities, raised for children by a compensating hierarchy).
      thresholds: ``[g]`` copula thresholds ``Φ⁻¹(1 − p_i)`` (``-inf`` where p = 1).
      chol: ``[g, g]`` lower Cholesky factor of C (identity when uncorrelated; None for
        a low-rank C).
      mu: ``[g]`` magnitude means.
      sigma: ``[g]`` magnitude standard deviations.
      correlated: static flag; False skips the copula matmul.
      factor: ``[g, r]`` low-rank factor V of ``C = V Vᵀ + diag`` (None otherwise).
      diag_sqrt: ``[g]`` ``sqrt(1 − ‖v_i‖²)`` of a low-rank C (None otherwise).
      bias: ``[d]`` bias added to every input (None: none).
      hierarchy: the forest (:class:`~toysae.hierarchy.HierarchyArrays`) or None.
      walk: the forest's tables for sparse sampling (:class:`~toysae.treewalk.TreeWalk`),
        used with a cap (``max_active``); None otherwise.
      marginals: ``[g]`` exact firing probabilities where known (None: a hierarchy over
        correlated features, whose L0 :func:`true_l0_report` estimates).
      max_active: static cap of the sparse path (None: dense path).

    Examples:
      >>> from toysae import presets
      >>> toy = build_toy(presets.get("paper-small-pos"))
      >>> toy.n_features, toy.dim, round(toy.true_l0, 4), toy.correlation.shape
      (5, 20, 2.0, (5, 5))
    """

    features: jax.Array
    probs: jax.Array
    thresholds: jax.Array
    chol: jax.Array | None
    mu: jax.Array
    sigma: jax.Array
    correlated: bool = dataclasses.field(default=True, metadata=dict(static=True))
    factor: jax.Array | None = None
    diag_sqrt: jax.Array | None = None
    bias: jax.Array | None = None
    hierarchy: HierarchyArrays | None = None
    walk: TreeWalk | None = None
    marginals: jax.Array | None = None
    max_active: int | None = dataclasses.field(default=None, metadata=dict(static=True))

    @property
    def n_features(self) -> int:
        return self.features.shape[0]

    @property
    def dim(self) -> int:
        return self.features.shape[1]

    @property
    def true_l0(self) -> float:
        """Exact true L0, ``Σ_i P(feature i fires)``.

        Raises:
          ValueError: for a hierarchy over correlated features (no closed form; use
            :func:`true_l0_report` on its config).
        """
        probs = self.probs if self.marginals is None else self.marginals
        if self.hierarchy is not None and self.marginals is None:
            raise ValueError("a hierarchy over correlated features has no closed-form true "
                             "L0; estimate it with toysae.true_l0_report(cfg)")
        return float(np.sum(np.asarray(probs, dtype=np.float64)))

    @property
    def correlation(self) -> np.ndarray:
        """``[g, g]`` copula correlation ``C`` (formed on request, also for a low-rank C)."""
        if self.factor is not None:
            v = np.asarray(self.factor, np.float64)
            c = v @ v.T
            np.fill_diagonal(c, 1.0)
            return c
        chol = np.asarray(self.chol, dtype=np.float64)
        return chol @ chol.T

    def _latent(self, key: jax.Array, n: int) -> jax.Array:
        """``[n, g]`` latent Gaussians ``z ~ N(0, C)`` of the copula."""
        g = self.n_features
        if self.factor is not None:
            eps = jax.random.normal(key, (n, self.factor.shape[1]), self.features.dtype)
            own = jax.random.normal(jax.random.fold_in(key, 1), (n, g), self.features.dtype)
            return eps @ self.factor.T + self.diag_sqrt * own
        z = jax.random.normal(key, (n, g), dtype=self.features.dtype)
        return z @ self.chol.T if self.correlated else z

    def _events(self, key: jax.Array, n: int):
        """Firing events and magnitudes after the hierarchy (paper §3; the hierarchy's
        semantics in :mod:`toysae.hierarchy`).

        Returns ``(fires, mags, idx, vals, count)``:

        - without a cap (``max_active`` None) every feature draws a magnitude, as the
          paper's toys always have: ``fires [n, g]``, ``mags [n, g]``, no idx or vals;
        - with a cap only the active features do: the first ``max_active`` (A) of each
          input in feature order draw ``[n, A]`` normals; ``idx [n, A]`` are their
          indices (ascending, padded with g) and ``vals [n, A]`` their coefficients;
        - with a cap and a hierarchy the forest is walked from the features that fire
          (:mod:`toysae.treewalk`): no ``[n, g]`` arrays at all, fires and mags None.

        ``count [n]`` is each input's number of active features.
        """
        g = self.n_features
        if self.walk is not None:
            return (None, None) + self.walk.sample(self, key, n, self.max_active)
        kz, km = jax.random.split(key)
        hier = self.hierarchy
        fires = self._latent(kz, n) > self.thresholds
        if hier is not None:
            fires = hier.gate(fires, jax.random.fold_in(km, 1))
        count = jnp.sum(fires, axis=1)
        if self.max_active is None:
            eps = jax.random.normal(km, (n, g), self.features.dtype)
            mags = jax.nn.relu(self.mu + self.sigma * eps)
            if hier is not None and hier.scale_children:
                mags = hier.scale(mags, self.mu)
            return fires, mags, None, None, count
        idx = jax.vmap(lambda row: jnp.nonzero(row, size=self.max_active,
                                               fill_value=g)[0])(fires)  # [n, A]
        eps = jax.random.normal(km, idx.shape, self.features.dtype)
        mu = jnp.concatenate([self.mu, jnp.ones((1,), self.mu.dtype)])
        sigma = jnp.concatenate([self.sigma, jnp.zeros((1,), self.sigma.dtype)])
        vals = jnp.where(idx < g, jax.nn.relu(mu[idx] + sigma[idx] * eps), 0.0)
        return fires, None, idx, vals, count

    def draw(self, key: jax.Array, n: int, dense: bool = False
             ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Draws ``n`` inputs and counts their active features.

        Args:
          key: JAX PRNG key.
          n: number of samples (static).
          dense: build ``x`` as ``coeffs @ F`` even when the toy has a cap (the same
            samples as the sparse path, for checking it).

        Returns:
          ``(coeffs [n, g], x [n, d], most)``: ``x = coeffs @ F (+ bias)`` and the
          largest number of active features in one input (int32 scalar).  On the sparse
          path an input with more than ``max_active`` gets ``x = NaN``: never a silently
          truncated input; callers check ``most`` (the sweep raises on it).
        """
        return self._draw_events(self._events(key, n), n, dense)

    def _draw_events(self, events: tuple, n: int, dense: bool = False
                     ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """:meth:`draw` from events :meth:`_events` has drawn (for a caller that needs
        the events too, such as the sweep's evaluation set, without drawing them twice)."""
        fires, mags, idx, vals, count = events
        if idx is None:
            coeffs = jnp.where(fires, mags, 0.0)
        else:
            rows = jnp.arange(n)[:, None]
            coeffs = jnp.zeros((n, self.n_features + 1), vals.dtype).at[rows, idx].set(vals)
            coeffs = coeffs[:, :-1]
        if idx is None or dense:
            x = coeffs @ self.features
        else:
            feats = jnp.concatenate([self.features, jnp.zeros((1, self.dim),
                                                              self.features.dtype)])
            # Slot by slot, and only up to the batch's largest count: one [n, d] row
            # gather per slot (measured 15x faster here than gathering [n, A, d] at once).
            top = jnp.minimum(jnp.max(count), idx.shape[1])
            x = jax.lax.fori_loop(
                0, top, lambda a, acc: acc + vals[:, a, None] * feats[idx[:, a]],
                jnp.zeros((n, self.dim), self.features.dtype))
        if idx is not None:  # an input over the cap is NaN on either path, never truncated
            x = jnp.where((count > self.max_active)[:, None], jnp.nan, x)
        if self.bias is not None:
            x = x + self.bias
        return coeffs, x, jnp.max(count)

    def sample(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """Draws ``n`` inputs (:meth:`draw` without the count).

        Args:
          key: JAX PRNG key.
          n: number of samples (static).

        Returns:
          ``(coeffs [n, g], x [n, d])`` with ``x = coeffs @ features (+ bias)``.

        Examples:
          >>> from toysae import presets
          >>> toy = presets.build("paper-small-pos")
          >>> coeffs, x = toy.sample(jax.random.key(0), 4)
          >>> coeffs.shape, x.shape
          ((4, 5), (4, 20))
        """
        coeffs, x, _ = self.draw(key, n)
        return coeffs, x

    def empirical_l0(self, key: jax.Array, n: int = 200_000) -> float:
        """Mean number of firing features per input on ``n`` samples.

        Examples:
          >>> from toysae import presets
          >>> round(presets.build("paper-small-pos").empirical_l0(jax.random.key(0)), 1)
          2.0
        """
        return float(jnp.mean(self._events(key, n)[-1]))


def correlation_matrix(cfg: ToyConfig) -> np.ndarray | None:
    """The copula correlation ``C`` a config asks for, or None when uncorrelated.

    Args:
      cfg: the :class:`~toysae.config.ToyConfig`.

    Returns:
      ``[g, g]`` float64 correlation matrix (repaired to positive definite), or None
      for ``correlation.kind == "none"``.

    Examples:
      >>> from toysae import presets
      >>> c = correlation_matrix(presets.get("paper-small-neg"))
      >>> c.shape, float(c[0, 1]), float(c[1, 2])
      ((5, 5), -0.4, 0.0)
    """
    spec, g = cfg.correlation, cfg.n_features
    if spec.kind in ("none", "low_rank"):
        return None
    if spec.kind == "paper":
        return paper_random_correlation(
            g, spec.seed, frac_uncorrelated=spec.frac_uncorrelated,
            frac_positive=spec.frac_positive, strength=tuple(spec.strength),
        )
    if spec.kind == "pairs":
        return pairs_correlation(g, spec.pairs)
    return check_correlation_matrix("correlation.matrix", spec.matrix, g)


def build_toy(cfg: ToyConfig) -> ToyModel:
    """Builds the arrays of a toy model from its config (deterministic in the config).

    Args:
      cfg: the :class:`~toysae.config.ToyConfig`.

    Returns:
      A :class:`ToyModel` with float32 arrays.

    Raises:
      ValueError: when :func:`memory_estimate` exceeds this machine's memory.

    Examples:
      >>> from toysae import presets
      >>> toy = build_toy(presets.get("paper-main"))
      >>> toy.features.shape, toy.probs.shape, toy.chol.shape, round(toy.true_l0, 4)
      ((50, 100), (50,), (50, 50), 10.9525)
    """
    check_memory(cfg)
    g, d = cfg.n_features, cfg.dim
    key = jax.random.key(cfg.feature_seed)
    if cfg.features == "orthogonal":
        feats = orthogonal_features(key, g, d)
    elif cfg.features == "random":
        feats = random_features(key, g, d)
    elif cfg.features == "explicit":  # unit rows as given; others normalised
        feats = np.asarray(cfg.directions, np.float64)
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        feats = np.where(np.abs(norms - 1) <= 1e-6, feats, feats / norms)
    else:
        feats = near_orthogonal_features(key, g, d, cfg.target_cos)
    probs = cfg.sampling_probs()
    thresholds = ndtri(1.0 - probs)  # -inf where p = 1: always fires
    spec = cfg.correlation
    factor = diag_sqrt = None
    if spec.kind == "low_rank":
        v = (np.asarray(spec.factor, np.float64) if spec.factor is not None
             else low_rank_factor(spec.seed, g, spec.rank, spec.scale))
        factor = jnp.asarray(v, jnp.float32)
        diag_sqrt = jnp.asarray(np.sqrt(1.0 - np.sum(v * v, axis=1)), jnp.float32)
        chol, correlated = None, True
    else:
        corr = correlation_matrix(cfg)
        chol = jnp.asarray(np.eye(g) if corr is None else cholesky_factor(corr), jnp.float32)
        correlated = corr is not None
    if cfg.magnitude is None:
        mu, sigma = np.full(g, cfg.mu), np.full(g, cfg.sigma)
    else:
        mu, sigma = cfg.magnitude.mean.values(g), cfg.magnitude.std.values(g)
    bias = None
    if cfg.bias_norm > 0:
        b = jax.random.normal(jax.random.fold_in(key, 1), (d,), jnp.float32)
        bias = cfg.bias_norm * b / jnp.linalg.norm(b)
    hier = walk = marginals = None
    if cfg.hierarchy is not None:
        tree = build_tree(cfg.hierarchy, g)
        hier = HierarchyArrays.from_tree(tree, cfg.hierarchy.scale_children)
        if cfg.max_active is not None:
            walk = TreeWalk.from_tree(tree, cfg.hierarchy.scale_children)
        if spec.kind == "none":
            marginals = jnp.asarray(exact_marginals(probs, tree), jnp.float32)
    return ToyModel(
        features=jnp.asarray(feats, jnp.float32),
        probs=jnp.asarray(probs, jnp.float32),
        thresholds=jnp.asarray(thresholds, jnp.float32),
        chol=chol,
        mu=jnp.asarray(mu, jnp.float32),
        sigma=jnp.asarray(sigma, jnp.float32),
        correlated=correlated,
        factor=factor,
        diag_sqrt=diag_sqrt,
        bias=bias,
        hierarchy=hier,
        walk=walk,
        marginals=marginals,
        max_active=cfg.max_active,
    )


def memory_estimate(cfg: ToyConfig, batch: int = 1024) -> dict[str, int]:
    """Bytes the toy needs before anything is built: its arrays, the float64 work of a
    dense correlation (matrix, eigendecomposition, Cholesky), near-orthogonal
    optimisation, and one sampling batch of ``batch`` inputs.

    Examples:
      >>> from toysae import presets
      >>> est = memory_estimate(presets.get("paper-main"))
      >>> sorted(est), est["total"] < 2**30
      (['batch', 'correlation', 'features', 'total'], True)
    """
    g, d = cfg.n_features, cfg.dim
    out = {"features": 3 * 8 * g * d}
    if cfg.features == "near_orthogonal":
        out["features"] += 4 * 4 * g * g
    kind = cfg.correlation.kind
    if kind == "low_rank":
        rank = cfg.correlation.rank or len(cfg.correlation.factor[0])
        out["correlation"] = 8 * 3 * g * rank
    else:
        out["correlation"] = 0 if kind == "none" else 8 * 5 * g * g
        out["correlation"] += 4 * g * g  # the float32 Cholesky factor (identity included)
    gathered = 0 if cfg.max_active is None else cfg.max_active * d  # sparse path's rows
    out["batch"] = 4 * batch * (8 * g + gathered + d)
    out["total"] = sum(out.values())
    return out


def check_memory(cfg: ToyConfig, batch: int = 1024) -> None:
    """Refuses a toy whose :func:`memory_estimate` exceeds this machine's memory, before
    anything is allocated (naming the largest part)."""
    refuse_if_over_memory(
        memory_estimate(cfg, batch),
        "toy model (n_features={g}, dim={d}, correlation.kind={kind!r}) needs about {need} "
        "GiB (mostly {part}: {part_need} GiB); this machine has {have} GiB. Use fewer "
        "features, correlation kind 'low_rank' instead of a dense matrix, or max_active "
        "(the sparse path)",
        g=cfg.n_features, d=cfg.dim, kind=cfg.correlation.kind)


_L0_CACHE: dict[str, dict] = {}


def true_l0_report(cfg: ToyConfig, n: int = 1 << 20, seed: int = 0,
                   batch: int = 8192) -> dict:
    """The true L0 of a toy and how it is known.

    Exact (``Σ p_i``, or the hierarchy's exact marginals for independent firing)
    wherever the structure allows; otherwise (a hierarchy over correlated features) the
    mean firing count over ``n`` samples drawn with ``key(seed)`` (at least 1M), with its
    standard error.  Results are cached per config in this process.

    Returns:
      ``{"value", "method": "exact" | "estimate", "se", "n"}`` (``se`` and ``n`` None
      for an exact value).

    Examples:
      >>> from toysae import presets
      >>> true_l0_report(presets.get("paper-main"))["method"]
      'exact'
    """
    if cfg.hierarchy is None or cfg.correlation.kind == "none":
        return {"value": cfg.true_l0, "method": "exact", "se": None, "n": None}
    if n < 1 << 20:
        raise ValueError(f"n={n}; an estimated true L0 uses at least {1 << 20} samples")
    cache_key = json.dumps([cfg.to_dict(), n, seed, batch], sort_keys=True)
    if cache_key not in _L0_CACHE:
        toy = build_toy(cfg)
        counts = _fire_counts(toy, jax.random.key(seed), batch, -(-n // batch))
        counts = np.asarray(counts, np.float64).reshape(-1)
        _L0_CACHE[cache_key] = {"value": float(counts.mean()), "method": "estimate",
                                "se": float(counts.std(ddof=1) / np.sqrt(counts.size)),
                                "n": int(counts.size)}
    return dict(_L0_CACHE[cache_key])


@partial(jax.jit, static_argnames=("batch", "n_batches"))
def _fire_counts(toy: ToyModel, key: jax.Array, batch: int, n_batches: int) -> jax.Array:
    def one(_, i):
        return None, toy._events(jax.random.fold_in(key, i), batch)[-1]
    return jax.lax.scan(one, None, jnp.arange(n_batches))[1]
