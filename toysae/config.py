"""Frozen configuration dataclasses: the single source of truth for a run.

A sweep is fully described by a :class:`SweepConfig`; its JSON form (``to_dict``) is
what is stored in a run directory and hashed for caching.  Every field is checked in
``__post_init__``, so an invalid config never reaches JAX.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import saes
from .firing import FiringSpec, MagnitudeSpec
from .hierarchy import HierarchySpec, build_tree, compensated_probs, exact_marginals
from .validation import (
    check_choice,
    check_correlation_matrix,
    check_directions,
    check_float,
    check_float32,
    check_floats,
    check_int,
    check_list,
    check_seed,
    machine_memory,
)

CORRELATION_KINDS = ("none", "matrix", "pairs", "paper", "low_rank")
FEATURE_KINDS = ("orthogonal", "near_orthogonal", "random", "explicit")
INIT_KINDS = ("random", "ground_truth")


@dataclass(frozen=True)
class CorrelationSpec:
    """How the Gaussian copula's correlation matrix ``C`` is built (paper §3).

    Attributes:
      kind: ``"none"`` (independent firing), ``"matrix"`` (explicit ``matrix``),
        ``"pairs"`` (explicit ``pairs``, all other entries 0) or ``"paper"`` (the
        paper's random recipe, §3.2, reproduced exactly from ``seed``).
      matrix: ``[g][g]`` correlation matrix for ``kind="matrix"``: symmetric, unit
        diagonal, entries in [-1, 1]; repaired to positive definite if needed.
      pairs: ``[(i, j, c), ...]`` for ``kind="pairs"``; ``c`` in [-1, 1], ``i != j``.
      seed: seed of Python's ``random`` for ``kind="paper"`` (the paper uses 42).
      frac_uncorrelated: fraction of pairs left uncorrelated (paper: 0.3).
      frac_positive: fraction of correlated pairs that are positive (paper: 0.5).
      strength: range of ``|C_ij|`` before repair (paper: 0.3 to 0.9).
      rank, scale: for ``kind="low_rank"``, ``C = V Vᵀ + diag(1 − ‖v_i‖²)`` with
        ``V [g, rank]`` drawn as ``scale · N(0, 1)`` from ``key(seed)`` (SAELens's
        ``generate_random_low_rank_correlation_matrix``; rows rescaled so the largest
        ``‖v_i‖²`` is 0.99 when one reaches 1).  C is never formed: the copula draws
        ``z = V ε_r + sqrt(diag) ε``.
      factor: an explicit ``[g][rank]`` V for ``kind="low_rank"`` instead of rank and
        scale; every row needs ``‖v_i‖² < 1``.

    Examples:
      >>> CorrelationSpec(kind="pairs", pairs=[(0, 1, 0.4)]).pairs
      ((0, 1, 0.4),)
      >>> CorrelationSpec(kind="paper").strength
      (0.3, 0.9)
    """

    kind: str = "none"
    matrix: tuple[tuple[float, ...], ...] | None = None
    pairs: tuple[tuple[int, int, float], ...] | None = None
    seed: int = 42
    frac_uncorrelated: float = 0.3
    frac_positive: float = 0.5
    strength: tuple[float, float] = (0.3, 0.9)
    rank: int | None = None
    scale: float | None = None
    factor: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self):
        check_choice("correlation.kind", self.kind, CORRELATION_KINDS)
        low_rank = (self.rank, self.scale, self.factor)
        if self.kind != "low_rank" and any(v is not None for v in low_rank):
            raise ValueError("correlation.rank, scale and factor apply to kind='low_rank' "
                             f"only; got kind={self.kind!r}")
        if self.kind == "low_rank":
            if (self.factor is None) == (self.rank is None or self.scale is None):
                raise ValueError("correlation kind='low_rank' needs either rank and scale "
                                 "(a random factor) or factor (an explicit [g][rank] list), "
                                 "not both")
            if self.factor is None:
                check_int("correlation.rank", self.rank, lo=1)
                check_float("correlation.scale", self.scale, lo=0.0)
            else:
                if isinstance(self.factor, (str, bytes, dict)) or not hasattr(
                        self.factor, "__iter__"):
                    raise ValueError(f"correlation.factor={self.factor!r}; expected a "
                                     "[g][rank] list of numbers")
                rows = tuple(check_floats(f"correlation.factor[{i}]", r)
                             for i, r in enumerate(self.factor))
                object.__setattr__(self, "factor", rows)
        if self.kind == "matrix" and self.matrix is None:
            raise ValueError("correlation.matrix is missing; kind='matrix' needs a [g][g] matrix")
        if self.kind == "pairs" and self.pairs is None:
            raise ValueError("correlation.pairs is missing; kind='pairs' needs [[i, j, c], ...]")
        if self.matrix is not None:
            rows = check_list("correlation.matrix", self.matrix)
            object.__setattr__(self, "matrix", tuple(
                tuple(check_list(f"correlation.matrix[{i}]", r)) for i, r in enumerate(rows)))
        if self.pairs is not None:
            pairs = check_list("correlation.pairs", self.pairs)
            object.__setattr__(self, "pairs", tuple(
                tuple(check_list(f"correlation.pairs[{i}]", p, 3)) for i, p in enumerate(pairs)))
        object.__setattr__(self, "strength", tuple(check_list("correlation.strength",
                                                              self.strength, 2)))
        check_seed("correlation.seed", self.seed)
        check_float("correlation.frac_uncorrelated", self.frac_uncorrelated, 0.0, 1.0)
        check_float("correlation.frac_positive", self.frac_positive, 0.0, 1.0)
        strength = check_floats("correlation.strength", self.strength, lo=0.0, hi=1.0)
        if len(strength) != 2 or strength[0] > strength[1]:
            raise ValueError(f"correlation.strength={self.strength}; expected [lo, hi], lo <= hi")

    def validate_for(self, n_features: int) -> None:
        """Checks entries that depend on the number of features."""
        if self.kind == "matrix":
            check_correlation_matrix("correlation.matrix", self.matrix, n_features)
        if self.kind == "pairs":
            for idx, pair in enumerate(self.pairs):
                if len(pair) != 3:
                    raise ValueError(f"correlation.pairs[{idx}]={pair}; expected [i, j, c]")
                i = check_int(f"correlation.pairs[{idx}][0]", pair[0], 0, n_features - 1)
                j = check_int(f"correlation.pairs[{idx}][1]", pair[1], 0, n_features - 1)
                if i == j:
                    raise ValueError(f"correlation.pairs[{idx}]={pair}; expected i != j")
                check_float(f"correlation.pairs[{idx}][2]", pair[2], -1.0, 1.0)
        if self.kind == "low_rank" and self.factor is not None:
            widths = {len(r) for r in self.factor}
            if len(self.factor) != n_features or len(widths) != 1 or 0 in widths:
                raise ValueError(f"correlation.factor has shape [{len(self.factor)}]"
                                 f"[{sorted(widths)}]; expected [n_features={n_features}]"
                                 "[rank] with one rank >= 1 for every row")
            norms = [sum(v * v for v in r) for r in self.factor]
            worst = max(range(n_features), key=norms.__getitem__)
            if norms[worst] >= 1.0:
                raise ValueError(f"correlation.factor row {worst} has squared norm "
                                 f"{norms[worst]:.4g}; expected < 1 (C = V Vᵀ + diag needs a "
                                 "positive diagonal)")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the low-rank fields only where used, so the digests of configs
        written before they existed are unchanged)."""
        data = dataclasses.asdict(self)
        for name in ("rank", "scale", "factor"):
            if data[name] is None:
                data.pop(name)
        return data


@dataclass(frozen=True)
class ToyConfig:
    """A toy model: true features, firing probabilities, copula and magnitudes (paper §3).

    An input is ``x = Σ_i m_i f_i`` with ``m_i = ReLU(μ + σ ε)`` when feature ``i``
    fires and 0 otherwise; feature ``i`` fires when ``z_i > Φ⁻¹(1 − p_i)`` with
    ``z ~ N(0, C)``.

    Attributes:
      n_features: g, number of true features (>= 1).
      dim: d, input dimension (>= 1).
      probs: explicit firing probabilities, length g, each in (0, 1].  Exactly one of
        ``probs`` and ``ramp`` is given.
      ramp: ``(slope, offset)`` of the paper's linear ramp
        ``p_i = slope · (g − 1 − i) / g + offset`` (paper §3.2: ``(0.345, 0.05)``).
      correlation: the copula's correlation (:class:`CorrelationSpec`).
      features: ``"orthogonal"`` (needs g <= d), ``"near_orthogonal"`` (paper A.4.1
        optimisation towards ``target_cos``; any g, d), ``"random"`` (unit Gaussian
        directions, pairwise cosines about ±1/sqrt(d); any g, d) or ``"explicit"``
        (``directions``).
      directions: ``[g][d]`` feature directions for ``features="explicit"`` (finite,
        no zero row); rows of unit length (within 1e-6) are used as given, others are
        normalised when the toy is built.
      target_cos: target pairwise cosine for near-orthogonal features, in [-1, 1].
      feature_seed: seed of the JAX key that draws the feature directions.
      mu: mean magnitude of a firing feature (paper: 1.0), finite.
      sigma: magnitude standard deviation (paper: 0.15), >= 0.
      firing: a :class:`~toysae.firing.FiringSpec` rule for the probabilities
        (``zipf``, ``linear``, ``constant``, ``uniform``); exactly one of ``probs``,
        ``ramp`` and ``firing`` is given.
      magnitude: per-feature magnitude profiles (:class:`~toysae.firing.MagnitudeSpec`)
        instead of the scalar ``mu`` and ``sigma`` (which must then keep their defaults).
      hierarchy: a forest over the features (:class:`~toysae.hierarchy.HierarchySpec`):
        children fire only with their parents, exclusive siblings one at a time.
      bias_norm: norm of a constant bias added to every input (direction drawn from the
        feature key; SynthSAEBench: 0.5), >= 0.
      max_active: build inputs from at most this many active features per input (the
        sparse path, cost ∝ batch · max_active · d instead of batch · g · d); an input
        with more is an error naming the measured count, never a silent truncation.
        None: the dense path.

    Examples:
      >>> toy = ToyConfig(n_features=5, dim=20, probs=(0.4,) * 5)
      >>> round(toy.true_l0, 6), toy.features
      (2.0, 'orthogonal')
      >>> ToyConfig.from_dict(toy.to_dict()) == toy
      True
    """

    n_features: int
    dim: int
    probs: tuple[float, ...] | None = None
    ramp: tuple[float, float] | None = None
    correlation: CorrelationSpec = field(default_factory=CorrelationSpec)
    features: str = "orthogonal"
    target_cos: float = 0.0
    feature_seed: int = 0
    mu: float = 1.0
    sigma: float = 0.15
    directions: tuple[tuple[float, ...], ...] | None = None
    firing: FiringSpec | None = None
    magnitude: MagnitudeSpec | None = None
    hierarchy: HierarchySpec | None = None
    bias_norm: float = 0.0
    max_active: int | None = None

    def __post_init__(self):
        g = check_int("n_features", self.n_features, lo=1)
        d = check_int("dim", self.dim, lo=1)
        need, have = 4 * g * d, machine_memory()
        if need > have:  # before any per-feature work (the full estimate: build_toy)
            raise ValueError(f"n_features × dim = {g} × {d}: the float32 feature directions "
                             f"alone need {need / 2**30:.1f} GiB; this machine has "
                             f"{have / 2**30:.1f} GiB")
        if sum(v is not None for v in (self.probs, self.ramp, self.firing)) != 1:
            raise ValueError("give exactly one of probs (a list of g probabilities), ramp "
                             "((slope, offset) of the paper's linear ramp) and firing (a "
                             "rule: zipf, linear, constant, uniform)")
        if self.firing is not None:
            object.__setattr__(self, "firing", FiringSpec.parse(self.firing))
        if self.magnitude is not None:
            object.__setattr__(self, "magnitude", MagnitudeSpec.parse(self.magnitude))
            if (self.mu, self.sigma) != (1.0, 0.15):
                raise ValueError("give either mu and sigma (scalars) or magnitude "
                                 "(per-feature profiles), not both")
        if self.hierarchy is not None:
            hier = HierarchySpec.from_dict(self.hierarchy)
            object.__setattr__(self, "hierarchy", hier)
            if hier.n_used() > g:
                raise ValueError(f"hierarchy uses features up to index {hier.n_used() - 1}; "
                                 f"n_features={g}")
            build_tree(hier, g)  # refuses a cycle or a child under two parents, now
        check_float("bias_norm", self.bias_norm, lo=0.0)
        if self.max_active is not None:
            check_int("max_active", self.max_active, 1, g)
        if self.probs is not None:
            probs = check_floats("probs", self.probs, lo=0.0, hi=1.0, lo_open=True)
            if len(probs) != g:
                raise ValueError(f"probs has length {len(probs)}; expected n_features={g}")
            object.__setattr__(self, "probs", probs)
        elif self.ramp is not None:
            ramp = check_floats("ramp", self.ramp)
            if len(ramp) != 2:
                raise ValueError(f"ramp={self.ramp}; expected [slope, offset]")
            object.__setattr__(self, "ramp", ramp)
            slope, offset = ramp  # linear in i: its extremes are at i = 0 and i = g - 1
            for i in sorted({0, g - 1}):
                check_float(f"ramp gives probs[{i}]", slope * (g - 1 - i) / g + offset,
                            lo=0.0, hi=1.0, lo_open=True)
        if isinstance(self.correlation, dict):
            _check_keys("correlation", self.correlation, CorrelationSpec)
            object.__setattr__(self, "correlation", CorrelationSpec(**self.correlation))
        if not isinstance(self.correlation, CorrelationSpec):
            raise ValueError(f"correlation={self.correlation!r}; expected an object such as "
                             '{"kind": "paper"} (kinds: ' + ", ".join(CORRELATION_KINDS) + ")")
        self.correlation.validate_for(g)
        check_choice("features", self.features, FEATURE_KINDS)
        if self.features == "orthogonal" and g > self.dim:
            raise ValueError(f"features='orthogonal' needs n_features <= dim, got "
                             f"n_features={g}, dim={self.dim}; use features='near_orthogonal'")
        if (self.features == "explicit") != (self.directions is not None):
            raise ValueError("directions is given exactly when features='explicit' (a [g][d] "
                             f"list of feature directions); got features={self.features!r}")
        if self.directions is not None:
            object.__setattr__(self, "directions",
                               check_directions("directions", self.directions, g, self.dim))
        check_float("target_cos", self.target_cos, -1.0, 1.0)
        check_seed("feature_seed", self.feature_seed)
        check_float32("mu", self.mu)
        check_float32("sigma", self.sigma, lo=0.0)
        check_float32("bias_norm", self.bias_norm, lo=0.0)
        if self.magnitude is not None:
            for part in ("mean", "std"):
                values = getattr(self.magnitude, part).values(g)
                worst = max(values, key=abs)
                check_float32(f"magnitude.{part} (largest value)", worst)

    def firing_probs(self) -> tuple[float, ...]:
        """Per-feature firing probabilities ``p_i``, length g."""
        if self.probs is not None:
            return self.probs
        if self.firing is not None:
            return self.firing.probs(self.n_features)
        slope, offset = self.ramp
        g = self.n_features
        return tuple(slope * (g - 1 - i) / g + offset for i in range(g))

    @property
    def true_l0(self) -> float:
        """True L0, the expected number of firing features per input: ``Σ_i p_i``
        without a hierarchy; with one, exact for independent firing and otherwise
        estimated by sampling (:func:`toysae.generator.true_l0_report` says which)."""
        if self.hierarchy is None:
            return float(sum(self.firing_probs()))
        if self.correlation.kind != "none":
            raise ValueError("a hierarchy over correlated features has no closed-form true "
                             "L0; estimate it with toysae.true_l0_report(cfg)")
        return float(self.marginals().sum())

    def sampling_probs(self) -> np.ndarray:
        """``[g]`` probabilities the copula samples with: :meth:`firing_probs`, raised
        for children by the hierarchy's ``compensate`` (:mod:`toysae.hierarchy`)."""
        probs = np.asarray(self.firing_probs(), np.float64)
        if self.hierarchy is None or not self.hierarchy.compensate:
            return probs
        return compensated_probs(probs, build_tree(self.hierarchy, self.n_features))

    def marginals(self) -> np.ndarray:
        """``[g]`` exact firing probability of each feature (independent firing or no
        hierarchy; see :func:`toysae.hierarchy.exact_marginals`)."""
        probs = self.sampling_probs()
        if self.hierarchy is None:
            return probs
        return exact_marginals(probs, build_tree(self.hierarchy, self.n_features))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (fields added after the first release only where given, so the
        digests of configs written before they existed are unchanged)."""
        data = dataclasses.asdict(self)
        data["correlation"] = self.correlation.to_dict()
        for name in ("directions", "firing", "magnitude", "hierarchy", "max_active"):
            value = getattr(self, name)
            if value is None:
                data.pop(name)
            elif hasattr(value, "to_dict"):
                data[name] = value.to_dict()
        if self.bias_norm == 0.0:
            data.pop("bias_norm")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToyConfig:
        """Builds a config from its JSON form, naming unknown fields."""
        if not isinstance(data, dict):
            raise ValueError(f"toy model JSON must be an object, got {type(data).__name__}")
        _check_keys("toy model", data, cls)
        missing = sorted({"n_features", "dim"} - set(data))
        if missing:
            raise ValueError(f"toy model JSON is missing field(s) {missing}")
        data = dict(data)
        if isinstance(data.get("correlation"), dict):
            _check_keys("correlation", data["correlation"], CorrelationSpec)
            data["correlation"] = CorrelationSpec(**data["correlation"])
        elif data.get("correlation") is None:
            data.pop("correlation", None)
        for name in ("directions", "firing", "magnitude", "hierarchy", "max_active"):
            if name in data and data[name] is None:
                data.pop(name)
        return cls(**data)


@dataclass(frozen=True)
class SAEConfig:
    """An SAE: its architecture (:mod:`toysae.saes`; BatchTopK by default), the
    architecture's hyperparameters, and its initialisation.

    Every field is checked whatever the architecture; each architecture reads (and its
    JSON form keeps) only its own (``toysae archs`` lists them).

    Attributes:
      width: h, number of latents (>= 1).
      init: ``"random"`` or ``"ground_truth"`` (``W_dec = F``, ``W_enc = Fᵀ``, zero
        biases, paper §3; needs ``width == n_features``).
      init_noise: std of Gaussian noise added to the ground-truth decoder, >= 0.
      dec_init_norm: norm of the decoder rows at random init (> 0); the encoder starts
        as the decoder's transpose.  With Adam the angular step of a row is about
        lr / norm, so this sets how fast directions move.
      aux_coef: weight of the AuxK loss on dead latents (0 disables it), >= 0.
      dead_steps: a latent that has not fired for this many steps is dead (>= 1) and
        gets the AuxK loss; after twice as many it is resampled.
      resample: resample latents silent for ``2 · dead_steps`` steps towards the
        residual of badly reconstructed inputs (see :mod:`toysae.train`).
      threshold_decay: EMA rate of the running inference threshold, in (0, 1].
      arch: a registered architecture (:func:`toysae.saes.names`): ``"batchtopk"``,
        ``"topk"``, ``"matryoshka"`` (AuxK, resampling and the inference threshold are
        theirs), ``"jumprelu"`` (paper §3.6) or ``"relu_l1"``.
      bandwidth: JumpReLU straight-through bandwidth ε (paper: 2.0), > 0.
      init_threshold: JumpReLU initial threshold θ (paper: 0.1), > 0.
      tanh_scale: c of the JumpReLU tanh sparsity penalty (SAELens default 4.0), > 0.
      warmup_steps: steps over which the JumpReLU sparsity coefficient rises linearly
        from 0 (paper: 10,000), >= 0.
      l1_warmup_frac: fraction of training over which the ReLU + L1 coefficient rises
        linearly from 0 (April update: 0.05), in [0, 1].
      prefixes: Matryoshka nested dictionary sizes, strictly increasing, each in
        [1, width] (None: ``(width // 4, width // 2, width)``); the width is added as the
        last prefix if missing.

    Examples:
      >>> SAEConfig(width=50).to_dict()["dec_init_norm"]
      0.1
      >>> SAEConfig(width=50, arch="jumprelu").bandwidth
      2.0
    """

    width: int
    init: str = "random"
    init_noise: float = 0.0
    dec_init_norm: float = 0.1
    aux_coef: float = 1.0 / 32.0
    dead_steps: int = 50
    threshold_decay: float = 0.01
    resample: bool = True
    arch: str = "batchtopk"
    bandwidth: float = 2.0
    init_threshold: float = 0.1
    tanh_scale: float = 4.0
    warmup_steps: int = 10_000
    l1_warmup_frac: float = 0.05
    prefixes: tuple[int, ...] | None = None

    def __post_init__(self):
        w = check_int("width", self.width, lo=1)
        check_choice("arch", self.arch, saes.names())
        check_float("l1_warmup_frac", self.l1_warmup_frac, 0.0, 1.0)
        if self.prefixes is not None:
            if isinstance(self.prefixes, (str, bytes)) or not hasattr(self.prefixes, "__len__"):
                raise ValueError(f"prefixes={self.prefixes!r}; expected a list of integers")
            prefixes = tuple(check_int(f"prefixes[{i}]", m, 1, w)
                             for i, m in enumerate(self.prefixes))
            if not prefixes or any(b <= a for a, b in zip(prefixes[:-1], prefixes[1:],
                                                          strict=True)):
                raise ValueError(f"prefixes={list(prefixes)}; expected a non-empty, strictly "
                                 f"increasing list of sizes in [1, width={w}]")
            object.__setattr__(self, "prefixes", prefixes)
        check_float("bandwidth", self.bandwidth, lo=0.0, lo_open=True)
        check_float("init_threshold", self.init_threshold, lo=0.0, lo_open=True)
        check_float("tanh_scale", self.tanh_scale, lo=0.0, lo_open=True)
        check_int("warmup_steps", self.warmup_steps, lo=0)
        check_choice("init", self.init, INIT_KINDS)
        check_float("init_noise", self.init_noise, lo=0.0)
        check_float("dec_init_norm", self.dec_init_norm, lo=0.0, lo_open=True)
        check_float("aux_coef", self.aux_coef, lo=0.0)
        check_int("dead_steps", self.dead_steps, lo=1)
        if not isinstance(self.resample, bool):
            raise ValueError(f"resample={self.resample!r}; expected true or false")
        check_float("threshold_decay", self.threshold_decay, lo=0.0, hi=1.0, lo_open=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the fields the architecture reads (its ``config_fields``), so a
        config's digest does not depend on other architectures' fields.  (BatchTopK's
        form has no ``arch`` key, as before the registry: the default applies.)"""
        data = dataclasses.asdict(self)
        return {name: data[name] for name in saes.get(self.arch).config_fields}


#: Accepted values of :attr:`TrainConfig.normalize`.
NORMALIZE_KINDS = ("none", "expected_average")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and k schedule.

    Attributes:
      samples: training samples per SAE (paper: 15,000,000); steps = samples // batch_size.
      batch_size: inputs per step (paper reference: 1024), >= 1.
      lr: Adam learning rate (paper: 3e-4), > 0.
      beta1: Adam β1 (paper: 0.9), in [0, 1).
      beta2: Adam β2 (paper: 0.999), in [0, 1).
      chunk_steps: steps per compiled ``lax.scan`` chunk; progress, checkpoints and
        evaluation happen between chunks.
      schedule_start: step at which a k schedule starts moving from ``k_start``.
      schedule_end: step at which it reaches the target k (None: constant k).
      schedule_integer: use the integer part of the interpolated k (the reference).
      n_eval: evaluation samples for the metrics (paper: 100,000).
      eval_seed: seed of the evaluation set, shared by every model of a sweep.
      normalize: ``"none"`` (default) or ``"expected_average"``: train on inputs scaled
        by ``√d / E‖x‖``, estimated before training, then fold the scale back into the
        weights so the stored SAE and every metric work on raw inputs (SAELens's
        ``expected_average_only_in``, the paper's JumpReLU reference;
        :mod:`toysae.normalize`).
      normalize_batches: batches of ``batch_size`` inputs that estimate ``E‖x‖``
        (SAELens: 1,000), >= 1.
      clip_grad_norm: clip each model's gradient to this global norm before Adam
        (optax's ``clip_by_global_norm``; the SAELens trainer uses 1.0); None: no clip.

    Examples:
      >>> TrainConfig().n_steps  # 15M samples in batches of 1024
      14648
    """

    samples: int = 15_000_000
    batch_size: int = 1024
    lr: float = 3e-4
    beta1: float = 0.9
    beta2: float = 0.999
    chunk_steps: int = 500
    schedule_start: int = 0
    schedule_end: int | None = None
    schedule_integer: bool = True
    n_eval: int = 100_000
    eval_seed: int = 12345
    normalize: str = "none"
    normalize_batches: int = 1000
    clip_grad_norm: float | None = None

    def __post_init__(self):
        b = check_int("batch_size", self.batch_size, lo=1)
        check_int("samples", self.samples, lo=b)
        check_float("lr", self.lr, lo=0.0, lo_open=True)
        check_float("beta1", self.beta1, 0.0, 1.0, hi_open=True)
        check_float("beta2", self.beta2, 0.0, 1.0, hi_open=True)
        check_int("chunk_steps", self.chunk_steps, lo=1)
        check_int("schedule_start", self.schedule_start, lo=0)
        if self.schedule_end is not None:
            check_int("schedule_end", self.schedule_end, lo=self.schedule_start)
        check_int("n_eval", self.n_eval, lo=1)
        check_seed("eval_seed", self.eval_seed)
        if self.normalize not in NORMALIZE_KINDS:
            raise ValueError(f"normalize={self.normalize!r} is not accepted; expected one of "
                             f"{list(NORMALIZE_KINDS)}")
        check_int("normalize_batches", self.normalize_batches, lo=1, hi=1_000_000)
        if self.clip_grad_norm is not None:
            check_float("clip_grad_norm", self.clip_grad_norm, lo=0.0, lo_open=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the normalisation and clipping fields only where they differ
        from their defaults, so the digests of configs written before them are
        unchanged)."""
        data = dataclasses.asdict(self)
        defaults = {"normalize": "none", "normalize_batches": 1000, "clip_grad_norm": None}
        for name, default in defaults.items():
            if data[name] == default:
                data.pop(name)
        return data

    @property
    def n_steps(self) -> int:
        """Number of optimisation steps, ``samples // batch_size``."""
        return self.samples // self.batch_size


@dataclass(frozen=True)
class SweepConfig:
    """A grid of SAEs trained together: every k in ``ks`` for every seed in ``seeds``.

    Within one seed every k sees the same init and the same batches (common random
    numbers); seeds differ in both.

    Attributes:
      toy: the toy model.
      sae: the SAE architecture and init.
      train: optimisation settings.
      ks: target k per model column; each in (0, width]; fractional k keeps
        ``round(k · batch)`` activations per batch.
      seeds: integer seeds.
      k_start: optional per-k starting values of a k schedule (same length as ``ks``).
      lambdas: sparsity coefficients λ, one model column each (each > 0), for an
        architecture whose column is λ (``jumprelu``, ``relu_l1``; they ignore ``ks``);
        refused otherwise.  :attr:`columns` is ``ks`` or ``lambdas``, whichever applies.

    Examples:
      >>> from toysae import presets
      >>> cfg = SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
      ...                   ks=(1.8, 2), seeds=(0, 1))
      >>> cfg.ks, cfg.columns, cfg.column_name, len(cfg.digest())
      ((1.8, 2.0), (1.8, 2.0), 'k', 16)
    """

    toy: ToyConfig
    sae: SAEConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    ks: tuple[float, ...] = (11.0,)
    seeds: tuple[int, ...] = (0,)
    k_start: tuple[float, ...] | None = None
    lambdas: tuple[float, ...] | None = None

    def __post_init__(self):
        w = self.sae.width
        arch = self.sae.arch
        by_lambda = saes.get(arch).column == "lambda"
        if by_lambda:
            if self.lambdas is None or len(tuple(self.lambdas)) == 0:
                raise ValueError(f"lambdas is empty; a {arch} sweep needs at least one "
                                 "sparsity coefficient lambda > 0")
            lams = check_floats("lambdas", self.lambdas, lo=0.0, lo_open=True)
            if len(set(lams)) != len(lams):
                raise ValueError(f"lambdas={lams} has repeats; expected distinct values")
            if self.k_start is not None:
                raise ValueError(f"k_start is a k schedule; a {arch} sweep (its column is "
                                 "lambda) accepts only k_start=None")
            object.__setattr__(self, "lambdas", lams)
        elif self.lambdas is not None:
            lam_archs = [n for n in saes.names() if saes.get(n).column == "lambda"]
            raise ValueError(f"lambdas={self.lambdas!r} needs sae.arch in {lam_archs}; "
                             f"a {arch} sweep takes ks")
        if len(tuple(self.ks)) == 0:
            raise ValueError("ks is empty; expected at least one k in (0, width]")
        # A lambda sweep ignores ks (its columns are lambdas): only coerced to floats.
        hi = None if by_lambda else float(w)
        ks = check_floats("k", self.ks, lo=0.0, hi=hi, lo_open=True)
        if len(set(ks)) != len(ks):
            raise ValueError(f"ks={ks} has repeats; expected distinct k values")
        object.__setattr__(self, "ks", ks)
        if len(tuple(self.seeds)) == 0:
            raise ValueError("seeds is empty; expected at least one integer seed")
        # vmapped as one int32 array of keys (sweep.data_keys): the int32 range
        seeds = tuple(check_int(f"seeds[{i}]", s, -(2**31), 2**31 - 1)
                      for i, s in enumerate(self.seeds))
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds={seeds} has repeats; expected distinct seeds")
        object.__setattr__(self, "seeds", seeds)
        if self.k_start is not None:
            ks0 = check_floats("k_start", self.k_start, lo=0.0, hi=float(w), lo_open=True)
            if len(ks0) != len(ks):
                raise ValueError(f"k_start has length {len(ks0)}; expected len(ks)={len(ks)}")
            object.__setattr__(self, "k_start", ks0)
        if self.sae.init == "ground_truth" and w != self.toy.n_features:
            raise ValueError(f"init='ground_truth' needs width == n_features, got width={w}, "
                             f"n_features={self.toy.n_features}")

    @property
    def columns(self) -> tuple[float, ...]:
        """The value of each model column: ``lambdas`` where the architecture's column is
        λ, else ``ks``."""
        return self.lambdas if self.column_name == "lambda" else self.ks

    @property
    def column_name(self) -> str:
        """The architecture's column, ``"k"`` or ``"lambda"`` (the records' key)."""
        return saes.get(self.sae.arch).column

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["toy"] = self.toy.to_dict()
        data["sae"] = self.sae.to_dict()
        data["train"] = self.train.to_dict()
        if self.lambdas is None:
            data.pop("lambdas")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepConfig:
        """Builds a sweep config from its JSON form, naming unknown or missing fields."""
        if not isinstance(data, dict):
            raise ValueError(f"sweep JSON must be an object, got {type(data).__name__}")
        _check_keys("sweep", data, cls)
        missing = sorted({"toy", "sae", "train", "ks", "seeds"} - set(data))
        if missing:
            raise ValueError(f"sweep JSON is missing field(s) {missing}")
        for name in ("sae", "train"):
            if not isinstance(data[name], dict):
                raise ValueError(f"sweep JSON field {name!r} must be an object, got "
                                 f"{type(data[name]).__name__}")
        _check_keys("sae", data["sae"], SAEConfig)
        _check_keys("train", data["train"], TrainConfig)
        return cls(
            toy=ToyConfig.from_dict(data["toy"]),
            sae=SAEConfig(**data["sae"]),
            train=TrainConfig(**data["train"]),
            ks=tuple(data["ks"]),
            seeds=tuple(data["seeds"]),
            k_start=None if data.get("k_start") is None else tuple(data["k_start"]),
            lambdas=None if data.get("lambdas") is None else tuple(data["lambdas"]),
        )

    def digest(self) -> str:
        """Stable short hash of the config, used as the cache key."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_keys(what: str, data: dict, cls) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{what} has unknown field(s) {unknown}; accepted fields: {sorted(known)}")
