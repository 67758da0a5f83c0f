"""Feature hierarchies: a child fires only with its parent; exclusive siblings fire one
at a time.

Semantics (ours; SAELens's ``sae_lens/synthetic/hierarchy/modifier.py`` for comparison):

1. Every feature first draws its own firing event (the Gaussian copula with its
   sampling probability) and its own magnitude, exactly as a flat toy does.
2. Then, level by level from the roots down (level = depth in the tree):

   a. a child whose parent did not fire is switched off;
   b. with ``scale_children``, a firing child's magnitude is multiplied by
      ``parent magnitude / parent mean magnitude`` (the parent's already-scaled value,
      so the factor compounds down a tree);
   c. in each exclusive set of siblings, when more than one fired, one of them is kept,
      chosen uniformly at random, and the others are switched off, so their own
      children are switched off at the next level.

Scaling (2b) depends only on the parents' final magnitudes, so it is applied after all
gating, level by level; the result is the same as interleaving the steps.

SAELens gates on the parent's *value* (> 0); we gate on the parent's firing event.
They differ only when a firing parent's magnitude is clipped to 0 by the ReLU
(probability Φ(−μ/σ) per firing), and ours keeps "fires" and "has a nonzero
coefficient" the same event, which the exact true L0 below needs.

``compensate`` raises the children's sampling probabilities with SAELens's correction
(``compute_probability_correction_factors``): for child c of parent P with base
probability p_c, ``p'_c = min(1, p_c / p_P · (1 + (S_c − p_c) / p_P))``, where S_c is the
sum of the base probabilities of c's exclusive set (S_c = p_c outside one); roots keep
p.  It makes a child's firing rate roughly its base p_c; our true L0 reports the exact
rate where it exists.

True L0 (:func:`exact_marginals`): with independent firing (no correlation), feature
i fires with probability ``m_i = m_parent · p'_i · w_i``, where ``w_i = E[1/(1 + K_i)]``
and K_i counts the other members of i's exclusive set that drew a firing; w_i is
``∫₀¹ Π_{j≠i} (1 − p'_j + p'_j t) dt``, integrated exactly by Gauss–Legendre.  With a
correlated copula no closed form exists and the L0 is estimated by sampling
(:func:`toysae.generator.true_l0_report`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .validation import check_bool, check_float, check_int, check_object, check_seed

HIERARCHY_FIELDS = ("roots", "branching", "depth", "exclusive", "seed", "groups",
                    "compensate", "scale_children")


@dataclass(frozen=True)
class Group:
    """One parent and its children (explicit hierarchy).

    Attributes:
      parent: the parent feature index.
      children: the child feature indices (distinct, not the parent).
      exclusive: True (all children are mutually exclusive), False, or a list of some
        of the children (those are mutually exclusive, the others fire freely).

    Examples:
      >>> spec = HierarchySpec(groups=[Group(parent=0, children=(1, 2, 3), exclusive=(1, 2))])
      >>> build_tree(spec, 4).eset.tolist()  # 1 and 2 exclusive; 3 fires freely
      [-1, 0, 0, -1]
    """

    parent: int
    children: tuple[int, ...]
    exclusive: bool | tuple[int, ...] = False


@dataclass(frozen=True)
class HierarchySpec:
    """A forest over the features (the toy JSON's ``"hierarchy"`` object).

    Either generated (``roots``, ``branching``, ``depth``) or explicit (``groups``).
    A generated forest numbers features breadth first from 0, as SAELens's
    ``generate_hierarchy`` does: roots ``0 … R−1``, then their children, and so on;
    every node above ``depth`` gets ``branching`` children; the remaining features are
    outside the forest.

    Attributes:
      roots: number of trees R (>= 1).
      branching: children per node b (>= 1).
      depth: levels below the roots D (>= 1); the forest uses ``R (1 + b + … + b^D)``
        features, at most n_features.
      exclusive: fraction of the parents (with >= 2 children) whose children are
        mutually exclusive, in [0, 1] (true = 1, false = 0; SAELens's
        ``mutually_exclusive_portion``); which ones is drawn with ``key(seed)``.
      seed: seed of that draw.
      groups: explicit list of :class:`Group` (JSON: ``{"parent", "children",
        "exclusive"}`` objects).
      compensate: raise children's sampling probabilities (module docstring).
      scale_children: scale a child's magnitude by its parent's relative magnitude.

    Examples:
      >>> h = HierarchySpec(groups=[{"parent": 0, "children": [1, 2], "exclusive": True}])
      >>> tree = build_tree(h, 4)
      >>> tree.parent.tolist(), tree.depth.tolist(), tree.eset.tolist()
      ([-1, 0, 0, -1], [0, 1, 1, 0], [-1, 0, 0, -1])
    """

    roots: int | None = None
    branching: int | None = None
    depth: int | None = None
    exclusive: float = 1.0
    seed: int = 0
    groups: tuple[Group, ...] | None = None
    compensate: bool = True
    scale_children: bool = False

    def __post_init__(self):
        generated = [self.roots, self.branching, self.depth]
        if self.groups is None:
            if any(v is None for v in generated):
                raise ValueError("hierarchy needs either groups (an explicit list) or all of "
                                 f"roots, branching, depth; got roots={self.roots}, "
                                 f"branching={self.branching}, depth={self.depth}")
            check_int("hierarchy.roots", self.roots, lo=1)
            check_int("hierarchy.branching", self.branching, lo=1)
            check_int("hierarchy.depth", self.depth, lo=1)
        else:
            if any(v is not None for v in generated):
                raise ValueError("hierarchy takes either groups or roots/branching/depth, "
                                 "not both")
            object.__setattr__(self, "groups", _parse_groups(self.groups))
        exclusive = self.exclusive
        if isinstance(exclusive, bool):
            exclusive = float(exclusive)
        object.__setattr__(self, "exclusive",
                           check_float("hierarchy.exclusive", exclusive, 0.0, 1.0))
        check_seed("hierarchy.seed", self.seed)
        check_bool("hierarchy.compensate", self.compensate)
        check_bool("hierarchy.scale_children", self.scale_children)

    @classmethod
    def from_dict(cls, data: Any) -> HierarchySpec:
        if isinstance(data, HierarchySpec):
            return data
        return cls(**check_object("hierarchy", data, optional=HIERARCHY_FIELDS))

    def n_used(self) -> int:
        """Features the generated forest uses (explicit: the largest index + 1)."""
        if self.groups is not None:
            return 1 + max(max(g.parent, *g.children) for g in self.groups)
        if self.branching == 1:
            return self.roots * (self.depth + 1)
        if self.depth >= 64:  # at least 2^64: more features than any toy can have
            return 2**64
        return self.roots * (self.branching ** (self.depth + 1) - 1) // (self.branching - 1)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.groups is None:
            data.pop("groups")
        else:
            for name in ("roots", "branching", "depth", "exclusive", "seed"):
                data.pop(name)
            data["groups"] = [{"parent": g.parent, "children": list(g.children),
                               "exclusive": g.exclusive if isinstance(g.exclusive, bool)
                               else list(g.exclusive)} for g in self.groups]
        return data


def _parse_groups(groups) -> tuple[Group, ...]:
    if isinstance(groups, (str, bytes, dict)) or not hasattr(groups, "__iter__"):
        raise ValueError(f"hierarchy.groups={groups!r}; expected a list of objects "
                         "{parent, children, exclusive}")
    out = []
    for i, g in enumerate(groups):
        name = f"hierarchy.groups[{i}]"
        if isinstance(g, Group):
            g = dataclasses.asdict(g)
        check_object(name, g, required=("parent", "children"), optional=("exclusive",),
                     expected="an object {parent, children, exclusive}")
        parent = check_int(f"{name}.parent", g["parent"], lo=0)
        kids = g["children"]
        if isinstance(kids, (str, bytes, dict)) or not hasattr(kids, "__iter__") or not kids:
            raise ValueError(f"{name}.children={kids!r}; expected a non-empty list of indices")
        kids = tuple(check_int(f"{name}.children[{j}]", c, lo=0) for j, c in enumerate(kids))
        if len(set(kids)) != len(kids) or parent in kids:
            raise ValueError(f"{name}.children={list(kids)}; expected distinct indices other "
                             f"than the parent {parent}")
        excl = g.get("exclusive", False)
        if not isinstance(excl, bool):
            if isinstance(excl, (str, bytes, dict)) or not hasattr(excl, "__iter__"):
                raise ValueError(f"{name}.exclusive={excl!r}; expected true, false or a list "
                                 "of some of its children")
            excl = tuple(check_int(f"{name}.exclusive[{j}]", c, lo=0)
                         for j, c in enumerate(excl))
            outside = sorted(set(excl) - set(kids))
            if outside:
                raise ValueError(f"{name}.exclusive lists {outside}, which are not among its "
                                 f"children {list(kids)}; an exclusive set holds siblings only")
        out.append(Group(parent, kids, excl))
    if not out:
        raise ValueError("hierarchy.groups is empty; expected at least one group")
    return tuple(out)


@dataclass(frozen=True)
class Tree:
    """A built forest (NumPy).

    Attributes:
      parent: ``[g]`` parent index, −1 for roots and features outside the forest.
      depth: ``[g]`` depth (0 for roots and features outside).
      eset: ``[g]`` index of the feature's exclusive set, −1 when in none.
      n_sets: number of exclusive sets.
    """

    parent: np.ndarray
    depth: np.ndarray
    eset: np.ndarray
    n_sets: int

    @property
    def n_levels(self) -> int:
        return int(self.depth.max())


def build_tree(spec: HierarchySpec, n_features: int) -> Tree:
    """Builds and checks the forest of ``spec`` over ``n_features`` features.

    Raises:
      ValueError: an index out of range, a child under two parents, a cycle, or a
        generated forest larger than n_features, naming the field.
    """
    g = n_features
    parent = np.full(g, -1, np.int64)
    eset = np.full(g, -1, np.int64)
    n_sets = 0
    if spec.groups is None:
        need = spec.n_used()
        if need > g:
            raise ValueError(f"hierarchy (roots={spec.roots}, branching={spec.branching}, "
                             f"depth={spec.depth}) uses {need} features; n_features={g}")
        groups, nxt, level = [], spec.roots, list(range(spec.roots))
        for _ in range(spec.depth):
            new = []
            for p in level:
                kids = tuple(range(nxt, nxt + spec.branching))
                nxt += spec.branching
                groups.append((p, kids))
                new.extend(kids)
            level = new
        eligible = [i for i, (_, kids) in enumerate(groups) if len(kids) >= 2]
        n_me = int(len(eligible) * spec.exclusive)
        order = np.asarray(jax.random.permutation(jax.random.key(spec.seed), len(eligible)))
        chosen = {eligible[j] for j in order[:n_me]}
        for i, (p, kids) in enumerate(groups):
            parent[list(kids)] = p
            if i in chosen:
                eset[list(kids)] = n_sets
                n_sets += 1
    else:
        for i, grp in enumerate(spec.groups):
            name = f"hierarchy.groups[{i}]"
            check_int(f"{name}.parent", grp.parent, 0, g - 1)
            for j, c in enumerate(grp.children):
                check_int(f"{name}.children[{j}]", c, 0, g - 1)
                if parent[c] >= 0:
                    raise ValueError(f"{name}.children lists feature {c}, already a child of "
                                     f"{parent[c]}; a feature has at most one parent")
                parent[c] = grp.parent
            members = (grp.children if grp.exclusive is True
                       else () if grp.exclusive is False else grp.exclusive)
            if len(members) >= 2:
                eset[list(members)] = n_sets
                n_sets += 1
    depth = np.zeros(g, np.int64)
    for i in range(g):  # walk up; a walk longer than g steps is a cycle
        node, steps = i, 0
        while parent[node] >= 0:
            node, steps = parent[node], steps + 1
            if steps > g:
                raise ValueError(f"hierarchy has a cycle through feature {i}; a hierarchy "
                                 "must be a forest")
        depth[i] = steps
    return Tree(parent=parent, depth=depth, eset=eset, n_sets=n_sets)


def compensated_probs(probs: np.ndarray, tree: Tree) -> np.ndarray:
    """Children's sampling probabilities raised by SAELens's correction (module
    docstring), clamped to 1; roots and features outside the forest keep theirs.

    Examples:
      >>> tree = build_tree(HierarchySpec(groups=[{"parent": 0, "children": [1, 2],
      ...                                          "exclusive": True}]), 3)
      >>> compensated_probs(np.array([0.5, 0.1, 0.1]), tree).round(3).tolist()
      [0.5, 0.24, 0.24]
    """
    p = np.asarray(probs, np.float64)
    out = p.copy()
    set_sum = np.zeros(tree.n_sets)
    np.add.at(set_sum, tree.eset[tree.eset >= 0], p[tree.eset >= 0])
    kids = np.nonzero(tree.parent >= 0)[0]
    pp = p[tree.parent[kids]]
    s = np.where(tree.eset[kids] >= 0, set_sum[np.maximum(tree.eset[kids], 0)], p[kids])
    out[kids] = np.minimum(1.0, p[kids] / pp * (1.0 + (s - p[kids]) / pp))
    return out


def exact_marginals(sampling: np.ndarray, tree: Tree) -> np.ndarray:
    """Exact firing probability of every feature under the hierarchy, for independent
    firing with sampling probabilities ``sampling`` (module docstring).

    Args:
      sampling: ``[g]`` sampling probabilities (after compensation).
      tree: the forest.

    Returns:
      ``[g]`` float64 marginals; their sum is the exact true L0.

    Examples:
      >>> tree = build_tree(HierarchySpec(groups=[{"parent": 0, "children": [1, 2],
      ...                                          "exclusive": True}]), 3)
      >>> exact_marginals(np.array([0.5, 0.5, 0.5]), tree).tolist()  # 0.5·0.5·(1 − 0.5/2)
      [0.5, 0.1875, 0.1875]
    """
    p = np.asarray(sampling, np.float64)
    win = np.ones_like(p)
    for s in range(tree.n_sets):
        members = np.nonzero(tree.eset == s)[0]
        q = p[members]
        nodes, weights = np.polynomial.legendre.leggauss(len(members) // 2 + 1)
        t, w = (nodes + 1) / 2, weights / 2  # on [0, 1]
        terms = 1 - q[:, None] + q[:, None] * t[None, :]  # [s, nodes]
        logs = np.log(terms)  # > 0: t is inside (0, 1)
        others = np.exp(logs.sum(0)[None, :] - logs)  # Π_{j≠i}, per member
        win[members] = others @ w
    m = p * win
    for level in range(1, int(tree.depth.max(initial=0)) + 1):
        at = np.nonzero(tree.depth == level)[0]
        m[at] = m[at] * m[tree.parent[at]]
    return m


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class HierarchyArrays:
    """The forest as JAX arrays, carried by :class:`~toysae.generator.ToyModel`.

    Features are visited in level order: ``perm`` sorts them by depth (stably), so level
    L is the static slice ``bounds[L]`` of the permuted axis, and each level reads only
    the level above it.  Work per input is proportional to the features in the forest,
    not to ``g`` per level.

    Attributes:
      perm: ``[g]`` int32 feature indices in level order; ``inv`` its inverse.
      parent: per level L >= 1, ``[m_L]`` int32 position of each member's parent within
        level L − 1.
      peers: per level, ``[m_L, s]`` int32 positions (within the level) of the members of
        each member's exclusive set, itself first alone when in none, padded with m_L.
      slot: per level, ``[m_L]`` int32 position of the member in its ``peers`` row.
      eset: per level, ``[m_L]`` int32 exclusive-set index (``n_sets`` when in none).
      bounds: static ``((lo, hi), ...)`` slices of the levels 0, 1, ….
      n_sets: static number of exclusive sets.
      scale_children: static flag (module docstring).
    """

    perm: jax.Array
    inv: jax.Array
    parent: tuple[jax.Array, ...]
    peers: tuple[jax.Array, ...]
    slot: tuple[jax.Array, ...]
    eset: tuple[jax.Array, ...]
    bounds: tuple[tuple[int, int], ...] = dataclasses.field(metadata=dict(static=True))
    n_sets: int = dataclasses.field(metadata=dict(static=True))
    scale_children: bool = dataclasses.field(metadata=dict(static=True))

    @classmethod
    def from_tree(cls, tree: Tree, scale_children: bool) -> HierarchyArrays:
        g = tree.parent.shape[0]
        perm = np.argsort(tree.depth, kind="stable")
        inv = np.empty(g, np.int64)
        inv[perm] = np.arange(g)
        sizes = np.bincount(tree.depth, minlength=tree.n_levels + 1)
        edges = np.concatenate([[0], np.cumsum(sizes)])
        bounds = tuple((int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True))
        local = inv - edges[tree.depth]  # position of each feature within its level
        parent, peers, slot, eset = [], [], [], []
        for lo, hi in bounds[1:]:
            feats = perm[lo:hi]
            m = hi - lo
            parent.append(jnp.asarray(local[tree.parent[feats]], jnp.int32))
            sets = tree.eset[feats]
            width = max([1] + [int(np.sum(sets == s)) for s in np.unique(sets[sets >= 0])])
            rows = np.full((m, width), m, np.int64)
            rows[:, 0] = np.arange(m)
            pos = np.zeros(m, np.int64)
            for s in np.unique(sets[sets >= 0]):
                members = np.nonzero(sets == s)[0]
                rows[members, :len(members)] = members
                pos[members] = np.arange(len(members))
            peers.append(jnp.asarray(rows, jnp.int32))
            slot.append(jnp.asarray(pos, jnp.int32))
            eset.append(jnp.asarray(np.where(sets >= 0, sets, tree.n_sets), jnp.int32))
        return cls(perm=jnp.asarray(perm, jnp.int32), inv=jnp.asarray(inv, jnp.int32),
                   parent=tuple(parent), peers=tuple(peers), slot=tuple(slot),
                   eset=tuple(eset), bounds=bounds,
                   n_sets=tree.n_sets,
                   scale_children=scale_children)

    def gate(self, fires: jax.Array, key: jax.Array) -> jax.Array:
        """Applies steps 2a and 2c (module docstring) to raw firing events.

        In each exclusive set whose parent fired, the ``K`` members that drew a firing
        are ranked by feature order and the one of rank ``⌊u · K⌋`` is kept, with one
        uniform ``u`` per input and set: a uniform choice among them, drawing
        ``n × n_sets`` numbers instead of one per feature.

        Args:
          fires: ``[n, g]`` bool raw firing events.
          key: key of the sets' uniforms.

        Returns:
          ``[n, g]`` bool firing events after the hierarchy.
        """
        n = fires.shape[0]
        u = jax.random.uniform(key, (n, self.n_sets + 1)) if self.n_sets else None
        ordered = fires[:, self.perm]
        lo, hi = self.bounds[0]
        prev = ordered[:, lo:hi]
        out = [prev]
        for (lo, hi), parent, peers, slot, eset in zip(
                self.bounds[1:], self.parent, self.peers, self.slot, self.eset, strict=True):
            cur = ordered[:, lo:hi] & prev[:, parent]
            if self.n_sets:
                padded = jnp.concatenate([cur, jnp.zeros((n, 1), bool)], axis=1)
                count = rank = jnp.zeros(cur.shape, jnp.int32)
                for j in range(peers.shape[1]):  # one gather per set slot
                    peer = padded[:, peers[:, j]].astype(jnp.int32)
                    count = count + peer
                    rank = rank + jnp.where(j < slot, peer, 0)
                chosen = jnp.floor(u[:, eset] * count).astype(jnp.int32)
                cur = cur & ((eset == self.n_sets) | (rank == chosen))
            # Materialise each level: fused into the next level's gathers, it would be
            # recomputed once per gathered element (measured: 10x slower).
            cur = jax.lax.optimization_barrier(cur)
            out.append(cur)
            prev = cur
        return jnp.concatenate(out, axis=1)[:, self.inv]

    def scale(self, mags: jax.Array, mean: jax.Array) -> jax.Array:
        """Step 2b: a child's magnitude times ``parent magnitude / parent mean``, level
        by level (so the factor compounds); ``mags`` is ``[n, g]``."""
        ordered = mags[:, self.perm]
        mean = mean[self.perm]
        lo, hi = self.bounds[0]
        prev, prev_mean = ordered[:, lo:hi], mean[lo:hi]
        out = [prev]
        for (lo, hi), parent in zip(self.bounds[1:], self.parent, strict=True):
            cur = ordered[:, lo:hi] * (prev[:, parent] / prev_mean[parent])
            cur = jax.lax.optimization_barrier(cur)
            out.append(cur)
            prev, prev_mean = cur, mean[lo:hi]
        return jnp.concatenate(out, axis=1)[:, self.inv]
