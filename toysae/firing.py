"""Per-feature firing probabilities and magnitude profiles of a toy model.

The options follow SAELens's synthetic module (``sae_lens/synthetic/
firing_probabilities.py`` and ``firing_magnitudes.py``, SAELens ≥ 6.37), written anew
here with JAX keys for every random draw:

- probabilities (:class:`FiringSpec`): ``zipf``, ``linear``, ``constant``, ``uniform``
  (the paper's ``ramp`` and an explicit ``probs`` list stay on
  :class:`~toysae.config.ToyConfig`);
- magnitude profiles (:class:`Profile`): a per-feature mean or standard deviation that is
  ``constant``, ``linear`` or ``exponential`` in the feature index, or drawn once per
  feature from a ``folded_normal``.  A firing feature's magnitude is
  ``ReLU(mean_i + std_i · ε)`` (SAELens's ``activation_generator.py``; the paper's
  ``ReLU(1 + 0.15 ε)`` is the constant case).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from .validation import check_choice, check_float, check_object, check_seed

FIRING_KINDS = ("zipf", "linear", "constant", "uniform")
PROFILE_KINDS = ("constant", "linear", "exponential", "folded_normal")


@dataclass(frozen=True)
class FiringSpec:
    """Firing probabilities ``p_i`` from a rule (the toy JSON's ``"firing"`` object).

    Attributes:
      kind: ``"zipf"``, ``"linear"``, ``"constant"`` or ``"uniform"``.
      exponent: Zipf exponent a > 0 (``zipf`` only).
      p_max: the largest probability, in (0, 1] (``zipf``, ``linear``, ``uniform``).
      p_min: the smallest, in (0, p_max].  ``zipf`` without ``p_min`` is the plain
        power law ``p_i = p_max (i + 1)^(−a)``; with it, SAELens's rescaled law
        ``p_i = p_min + (p_max − p_min)(r_i − r_min)/(r_max − r_min)``, ``r_i = (i+1)^(−a)``,
        so feature 0 has ``p_max`` and feature g − 1 has ``p_min``.  ``linear``:
        ``p_max`` to ``p_min`` evenly; ``uniform``: each ``p_i`` drawn from
        U(p_min, p_max) with ``key(seed)``.
      p: the probability of every feature (``constant``), in (0, 1].
      seed: seed of the JAX key for ``uniform``.

    Examples:
      >>> FiringSpec(kind="zipf", exponent=1.0, p_max=0.5).probs(4)
      (0.5, 0.25, 0.16666666666666666, 0.125)
      >>> [round(p, 6) for p in FiringSpec(kind="linear", p_max=0.4, p_min=0.1).probs(4)]
      [0.4, 0.3, 0.2, 0.1]
    """

    kind: str
    exponent: float | None = None
    p_max: float | None = None
    p_min: float | None = None
    p: float | None = None
    seed: int = 0

    def __post_init__(self):
        check_choice("firing.kind", self.kind, FIRING_KINDS)
        needs = {"zipf": ("exponent", "p_max"), "linear": ("p_max", "p_min"),
                 "constant": ("p",), "uniform": ("p_max", "p_min")}[self.kind]
        allowed = set(needs) | ({"p_min"} if self.kind == "zipf" else set())
        for name in ("exponent", "p_max", "p_min", "p"):
            value = getattr(self, name)
            if name in needs and value is None:
                raise ValueError(f"firing.{name} is missing; kind={self.kind!r} needs "
                                 f"{list(needs)}")
            if name not in allowed and value is not None:
                raise ValueError(f"firing.{name}={value!r} does not apply to "
                                 f"kind={self.kind!r} (it takes {sorted(allowed)})")
        if self.exponent is not None:
            check_float("firing.exponent", self.exponent, lo=0.0, lo_open=True)
        if self.p is not None:
            check_float("firing.p", self.p, 0.0, 1.0, lo_open=True)
        if self.p_max is not None:
            check_float("firing.p_max", self.p_max, 0.0, 1.0, lo_open=True)
        if self.p_min is not None:
            check_float("firing.p_min", self.p_min, 0.0, self.p_max, lo_open=True)
        check_seed("firing.seed", self.seed)

    @classmethod
    def parse(cls, data: Any) -> FiringSpec:
        """From the JSON form ``{"kind": ..., ...}``, checked.

        Examples:
          >>> FiringSpec.parse({"kind": "constant", "p": 0.25}).probs(2)
          (0.25, 0.25)
        """
        if isinstance(data, FiringSpec):
            return data
        check_object("firing", data, required=("kind",),
                     optional=[f.name for f in dataclasses.fields(cls) if f.name != "kind"],
                     expected=f"an object with a kind in {list(FIRING_KINDS)}")
        return cls(**data)

    def probs(self, n: int) -> tuple[float, ...]:
        """The ``n`` probabilities, feature 0 first (float64)."""
        i = np.arange(n, dtype=np.float64)
        if self.kind == "constant":
            p = np.full(n, self.p)
        elif self.kind == "linear":
            p = np.linspace(self.p_max, self.p_min, n) if n > 1 else np.array([self.p_max])
        elif self.kind == "uniform":
            u = np.asarray(jax.random.uniform(jax.random.key(self.seed), (n,)), np.float64)
            p = self.p_min + (self.p_max - self.p_min) * u
        else:
            raw = (i + 1.0) ** -self.exponent
            if self.p_min is None:
                p = self.p_max * raw
            elif n == 1:
                p = np.array([self.p_max])
            else:
                p = self.p_min + (self.p_max - self.p_min) * (raw - raw[-1]) / (raw[0] - raw[-1])
        return tuple(float(v) for v in p)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, without the fields its kind does not use."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if v is not None and not (k == "seed" and self.kind != "uniform")}


@dataclass(frozen=True)
class Profile:
    """A per-feature value: the mean or standard deviation of the magnitudes.

    JSON: a number (constant) or an object ``{"kind": ..., ...}``.

    Attributes:
      kind: ``"constant"`` (``value``), ``"linear"`` (``start`` at feature 0 to ``end``
        at feature g − 1), ``"exponential"`` (``start · (end/start)^(i/(g−1))``, both
        > 0) or ``"folded_normal"`` (each feature's value drawn once as
        ``|mean + std · ε|`` with ``key(seed)``; SAELens's ``FoldedNormalMagnitudeConfig``).
      value, start, end, mean, std, seed: the parameters of the kind.

    Examples:
      >>> Profile(kind="linear", start=5.0, end=4.0).values(3)
      (5.0, 4.5, 4.0)
      >>> Profile.parse(0.15, "magnitude.std").values(2)
      (0.15, 0.15)
    """

    kind: str = "constant"
    value: float | None = None
    start: float | None = None
    end: float | None = None
    mean: float | None = None
    std: float | None = None
    seed: int = 0

    def __post_init__(self):
        check_choice("profile.kind", self.kind, PROFILE_KINDS)

    @classmethod
    def parse(cls, data: Any, name: str, lo: float | None = None) -> Profile:
        """A profile from its JSON form (a number or an object), checked; ``lo`` bounds
        every value it can produce (0 for a standard deviation)."""
        if isinstance(data, Profile):
            data = data.to_dict()
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            data = {"kind": "constant", "value": data}
        check_object(name, data, optional=[f.name for f in dataclasses.fields(cls)],
                     expected=f"a number or an object with a kind in {list(PROFILE_KINDS)}")
        kind = check_choice(f"{name}.kind", data.get("kind", "constant"), PROFILE_KINDS)
        needs = {"constant": ("value",), "linear": ("start", "end"),
                 "exponential": ("start", "end"), "folded_normal": ("mean", "std")}[kind]
        # kind may be left out for a constant (the default); only a drawn profile has a seed
        required = needs if kind == "constant" else ("kind", *needs)
        optional = {"constant": ("kind",), "folded_normal": ("seed",)}.get(kind, ())
        check_object(name, data, required, optional, rule=f"kind {kind!r}")
        vals = {}
        for key in needs:
            bound = lo
            if kind == "exponential":
                bound = 0.0
            if kind == "folded_normal":
                bound = 0.0 if key == "std" else None
            vals[key] = check_float(f"{name}.{key}", data[key], lo=bound,
                                    lo_open=kind == "exponential")
        seed = check_seed(f"{name}.seed", data.get("seed", 0))
        return cls(kind=kind, seed=seed, **vals)

    def values(self, n: int) -> tuple[float, ...]:
        """The ``n`` per-feature values (float64), feature 0 first."""
        t = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
        if self.kind == "constant":
            v = np.full(n, self.value)
        elif self.kind == "linear":
            v = self.start + (self.end - self.start) * t
        elif self.kind == "exponential":
            v = self.start * (self.end / self.start) ** t
        else:
            eps = np.asarray(jax.random.normal(jax.random.key(self.seed), (n,)), np.float64)
            v = np.abs(self.mean + self.std * eps)
        return tuple(float(x) for x in v)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (only the kind's fields)."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if v is not None and not (k == "seed" and self.kind != "folded_normal")}


@dataclass(frozen=True)
class MagnitudeSpec:
    """Per-feature magnitudes ``ReLU(mean_i + std_i · ε)`` (the toy JSON's
    ``"magnitude"`` object; without it the scalar ``mu`` and ``sigma`` apply).

    Attributes:
      mean: :class:`Profile` of the means (any finite values).
      std: :class:`Profile` of the standard deviations (>= 0; 0 gives constant
        magnitudes).

    Examples:
      >>> m = MagnitudeSpec.parse({"mean": {"kind": "linear", "start": 5.0, "end": 4.0},
      ...                          "std": 0.0})
      >>> m.mean.values(3), m.std.values(3)
      ((5.0, 4.5, 4.0), (0.0, 0.0, 0.0))
    """

    mean: Profile
    std: Profile

    @classmethod
    def parse(cls, data: Any) -> MagnitudeSpec:
        """From the JSON form ``{"mean": ..., "std": ...}``, checked."""
        if isinstance(data, MagnitudeSpec):
            return data
        check_object("magnitude", data, required=("mean", "std"),
                     expected="an object with fields mean, std")
        return cls(mean=Profile.parse(data["mean"], "magnitude.mean"),
                   std=Profile.parse(data["std"], "magnitude.std", lo=0.0))

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.to_dict(), "std": self.std.to_dict()}
