"""Sparse sampling of a hierarchy toy: walk down the forest from the features that fire.

The dense sampler (:meth:`toysae.generator.ToyModel._events` without a cap) draws every
feature's firing event and then switches children off (:mod:`toysae.hierarchy`).  A
child's own draw matters only when its parent fires, so with a cap on active features
(``max_active``) the sampler draws only what matters:

1. level 0 (roots and features outside the forest): every feature draws its copula
   event; the firing ones (at most A = ``max_active`` per input) are kept with their
   magnitudes;
2. level L >= 1: the children of the firing level-(L−1) features are the candidates
   ``[n, A, b]`` (b the most children of one parent); each draws its own copula event
   (its own noise plus, for a low-rank C, the input's shared factor), exclusive sets keep
   one uniformly chosen firing member, and the firing children (at most A) carry on with
   magnitudes scaled by their parent's when ``scale_children`` is set.

Every feature still fires exactly with the semantics of :mod:`toysae.hierarchy` (the
draws it skips are those of children whose parent is off, which the dense sampler
discards); only the random stream differs from the dense sampler's.  The cost per input
is the level-0 draws plus ``depth · A · b`` candidates, not g.  For a correlation given by
a dense Cholesky factor the latent Gaussians of all features are still formed densely
(the factor couples them); a low-rank C is evaluated for the candidates only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .hierarchy import Tree


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class TreeWalk:
    """Index tables of the walk (built once from the :class:`~toysae.hierarchy.Tree`).

    Attributes:
      free: ``[m0]`` int32 level-0 features (roots and features outside the forest),
        ascending.
      kids: ``[g + 1, b]`` int32 children of each feature, padded with g (row g: none).
      lead: ``[g + 1, b]`` int32 for each child slot, the slot of the first member of its
        exclusive set in that row (its own slot when in none).
      inset: ``[g + 1, b]`` bool, the slot's child is in an exclusive set.
      n_levels: static depth D of the forest.
      has_sets: static, the forest has exclusive sets.
      scale_children: static flag (:mod:`toysae.hierarchy`).
    """

    free: jax.Array
    kids: jax.Array
    lead: jax.Array
    inset: jax.Array
    n_levels: int = dataclasses.field(metadata=dict(static=True))
    has_sets: bool = dataclasses.field(metadata=dict(static=True))
    scale_children: bool = dataclasses.field(metadata=dict(static=True))

    @classmethod
    def from_tree(cls, tree: Tree, scale_children: bool) -> TreeWalk:
        g = tree.parent.shape[0]
        children = [[] for _ in range(g + 1)]
        for c in np.nonzero(tree.parent >= 0)[0]:
            children[tree.parent[c]].append(int(c))
        b = max(1, max(len(c) for c in children))
        kids = np.full((g + 1, b), g, np.int64)
        lead = np.tile(np.arange(b), (g + 1, 1))
        inset = np.zeros((g + 1, b), bool)
        for p, row in enumerate(children):
            kids[p, :len(row)] = row
            first: dict[int, int] = {}
            for j, c in enumerate(row):
                s = int(tree.eset[c])
                if s >= 0:
                    inset[p, j] = True
                    lead[p, j] = first.setdefault(s, j)
        return cls(free=jnp.asarray(np.nonzero(tree.depth == 0)[0], jnp.int32),
                   kids=jnp.asarray(kids, jnp.int32), lead=jnp.asarray(lead, jnp.int32),
                   inset=jnp.asarray(inset), n_levels=tree.n_levels,
                   has_sets=bool(inset.any()), scale_children=scale_children)

    def sample(self, toy, key: jax.Array, n: int, cap: int):
        """Active features and coefficients of ``n`` inputs.

        Args:
          toy: the :class:`~toysae.generator.ToyModel` (thresholds, magnitudes, copula).
          key: JAX PRNG key.
          n: number of inputs (static).
          cap: A, the most active features kept per input (static).

        Returns:
          ``(idx [n, A], vals [n, A], count [n])``: active feature indices (padded with
          g) and their coefficients, and each input's true number of active features
          (above A when the input overflowed; its list is then incomplete).
        """
        g = toy.n_features
        dtype = toy.features.dtype
        kz, km = jax.random.split(key)
        pad = jnp.full((1,), g, jnp.int32)
        t = jnp.concatenate([toy.thresholds, jnp.full((1,), jnp.inf, dtype)])
        mu = jnp.concatenate([toy.mu, jnp.ones((1,), dtype)])
        sigma = jnp.concatenate([toy.sigma, jnp.zeros((1,), dtype)])
        dense_latent, latent = _latent_fns(toy, kz, n)

        def first(mask, ids, size):  # the first `size` True entries of each row
            pos = jax.vmap(lambda r: jnp.nonzero(r, size=size, fill_value=r.shape[0])[0])(mask)
            ids = jnp.concatenate([ids, jnp.broadcast_to(pad, (n, 1))], axis=1)
            return jnp.take_along_axis(ids, pos, axis=1), pos

        fires0 = dense_latent(self.free, 1) > t[self.free]
        ids, pos = first(fires0, jnp.broadcast_to(self.free, fires0.shape), cap)
        eps = jax.random.normal(km, (n, cap), dtype)
        vals = jnp.where(ids < g, jax.nn.relu(mu[ids] + sigma[ids] * eps), 0.0)
        count = jnp.sum(fires0, axis=1)
        all_ids, all_vals = [ids], [vals]
        for level in range(1, self.n_levels + 1):
            cand = self.kids[ids]  # [n, A, b]
            fires = (latent(cand, 1 + level) > t[cand]) & (cand < g)
            if self.has_sets:  # one uniformly chosen firing member per exclusive set
                inset, lead = self.inset[ids], self.lead[ids]  # [n, A, b]
                same = (lead[..., :, None] == lead[..., None, :]) & inset[..., None, :]
                k_set = jnp.sum(same & fires[..., None, :], axis=-1)
                slots = jnp.arange(cand.shape[-1])
                earlier = slots[None, :] < slots[:, None]  # [i, j]: j before i
                rank = jnp.sum(same & earlier & fires[..., None, :], axis=-1)
                u = jax.random.uniform(jax.random.fold_in(km, 2 * level), cand.shape, dtype)
                chosen = jnp.floor(jnp.take_along_axis(u, lead, axis=-1) * k_set)
                fires = fires & (~inset | (rank == chosen.astype(rank.dtype)))
            eps = jax.random.normal(jax.random.fold_in(km, 2 * level + 1), cand.shape, dtype)
            cvals = jax.nn.relu(mu[cand] + sigma[cand] * eps)
            if self.scale_children:
                cvals = cvals * (vals / mu[ids])[..., None]
            count = count + jnp.sum(fires, axis=(1, 2))
            flat = cand.reshape(n, -1)
            ids, pos = first(fires.reshape(n, -1), flat, cap)
            cvals = jnp.concatenate([cvals.reshape(n, -1), jnp.zeros((n, 1), dtype)], axis=1)
            vals = jnp.where(ids < g, jnp.take_along_axis(cvals, pos, axis=1), 0.0)
            all_ids.append(ids)
            all_vals.append(vals)
        ids = jnp.concatenate(all_ids, axis=1)
        vals = jnp.concatenate(all_vals, axis=1)
        idx, pos = first(ids < g, ids, cap)
        vals = jnp.concatenate([vals, jnp.zeros((n, 1), dtype)], axis=1)
        return idx, jnp.take_along_axis(vals, pos, axis=1), count


def _latent_fns(toy, key: jax.Array, n: int):
    """``(dense(ids [m], stream) -> [n, m], gathered(ids [n, ...], stream))``: the
    copula's latent Gaussians of some features (padded with g), each call drawing its own
    noise from ``stream``."""
    dtype = toy.features.dtype
    if toy.factor is None:  # independent, or a dense Cholesky factor: form all of z
        z = jnp.concatenate([toy._latent(key, n), jnp.zeros((n, 1), dtype)], axis=1)
        return (lambda ids, stream: z[:, ids],
                lambda ids, stream: jnp.take_along_axis(
                    z, ids.reshape(n, -1), axis=1).reshape(ids.shape))
    shared = jax.random.normal(key, (n, toy.factor.shape[1]), dtype)
    factor = jnp.concatenate([toy.factor, jnp.zeros((1, toy.factor.shape[1]), dtype)])
    diag = jnp.concatenate([toy.diag_sqrt, jnp.zeros((1,), dtype)])

    def own(ids, stream):
        return diag[ids] * jax.random.normal(jax.random.fold_in(key, stream), ids.shape, dtype)

    def dense(ids, stream):
        return shared @ factor[ids].T + own(jnp.broadcast_to(ids, (n,) + ids.shape), stream)

    def gathered(ids, stream):
        return jnp.einsum("nr,n...r->n...", shared, factor[ids]) + own(ids, stream)

    return dense, gathered
