"""Online L0 tuner (paper A.11): one SAE whose L0 is adjusted during training, from above.

The paper's recipe, as we implement it: every cycle the SAE trains ``period`` steps at
``k = L`` and ``period`` steps at the probe ``k = L + δ`` (the order alternates from one
cycle to the next, so the metric's steady fall during training does not masquerade as a
slope); after each half the metric m is measured: the paper's ``s_n^dec`` as the mean over
``window`` batches (its 10-step sliding average; here the same fixed batches every time,
so both measurements see the same inputs), or ``c_dec``, which needs no data and is our
default (see :class:`TunerConfig` ``metric`` for why).  The slope
``s = (m(L + δ) − m(L)) / δ`` drives one Adam step of L.

The bias, and our reading of its sign: the paper writes ``g = dm/dL0 − 0.1·|dm/dL0|``
and calls it biasing the estimate downward.  With m minimised at the true L0 (descent,
``L ← L − Adam(g)``) that formula would push L *up* wherever the curve is flat, so a
tuner started high could never come down; we therefore use ``g = s + bias·|s|``, which
is the paper's formula for the metric −m that it maximises, and which does what the
paper says: where s_n^dec is flat (above the true L0) L drifts down, and the steep rise
of s_n^dec below the true L0 stops it.  (Measured on the main toy with the literal sign:
started at 20, L rose to 26.4 in both seeds.)

The tuner runs on the sweep's chunked loop (:func:`toysae.sweep.train_sweep`, chunks of
``period`` steps): a controller gives the k of each chunk and takes the metric measured
after it.  k is data, so the whole run compiles once; seeds run one after another.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .config import SweepConfig
from .generator import ToyModel, build_toy
from .metrics import c_dec, s_n_dec, s_n_for_width
from .sweep import eval_inputs, step_options, train_sweep
from .validation import check_choice, check_float, check_int


@dataclass(frozen=True)
class TunerConfig:
    """Settings of the online tuner (paper A.11; defaults are the paper's where it gives
    them).

    Attributes:
      k_start: starting L0, above the expected true L0 (the tuner approaches from above).
      period: steps between L0 changes (paper: 100), >= 1.
      delta: size of the probe change δ, > 0 (paper: 1).
      window: batches averaged per measurement of s_n^dec (paper: 10), >= 1.
      lr: Adam learning rate of L0, > 0.
      bias: downward bias of L0, ``g = s + bias · |s|`` (paper: 0.1; sign in the module
        docstring), >= 0.
      n: n of s_n^dec (None: :func:`toysae.metrics.s_n_for_width`).
      k_min: smallest L0 allowed, > 0.
      average_last: the estimate is the mean L0 over this final fraction of the run.
      metric: ``"c_dec"`` (default) or ``"s_n_dec"`` (the paper's).  Measured on the
        main toy (batch 256, lr 1e-3, 2M samples, seeds 0-1, started at 20, defaults
        otherwise): with s_n^dec (n = 18) L0 rose to 25.1 and 24.6, since s_n^dec still
        falls slightly with k above 20; with c_dec it fell to 13.5 and 14.5, still
        descending when the budget ran out.
      warmup: fraction of training spent at ``k_start`` before tuning starts (the first
        slopes otherwise reflect the SAE's initial transient), in [0, 1).
      beta2: Adam β2 of L0 (shorter memory than the 0.999 default, so that the large
        early slopes do not freeze the later steps), in [0, 1).

    Examples:
      >>> TunerConfig(k_start=20.0).metric, TunerConfig(k_start=20.0).period
      ('c_dec', 100)
    """

    k_start: float
    period: int = 100
    delta: float = 1.0
    window: int = 10
    lr: float = 0.5
    bias: float = 0.1
    n: int | None = None
    k_min: float = 1.0
    average_last: float = 0.25
    metric: str = "c_dec"
    warmup: float = 0.2
    beta2: float = 0.99

    def __post_init__(self):
        check_float("warmup", self.warmup, 0.0, 1.0, hi_open=True)
        check_float("beta2", self.beta2, 0.0, 1.0, hi_open=True)
        check_choice("metric", self.metric, ("s_n_dec", "c_dec"))
        check_float("k_start", self.k_start, lo=0.0, lo_open=True)
        check_int("period", self.period, lo=1)
        check_float("delta", self.delta, lo=0.0, lo_open=True)
        check_int("window", self.window, lo=1)
        check_float("lr", self.lr, lo=0.0, lo_open=True)
        check_float("bias", self.bias, lo=0.0)
        if self.n is not None:
            check_int("n", self.n, lo=1)
        check_float("k_min", self.k_min, lo=0.0, lo_open=True)
        check_float("average_last", self.average_last, 0.0, 1.0, lo_open=True)


def update_level(level, opt_state, slope: float, tuner: TunerConfig, width: int):
    """One Adam step of L0 from a measured slope ``dm/dL0`` (module docstring): the
    gradient is ``slope + bias · |slope|``; L0 stays in ``[k_min, width − δ]``.

    Examples:
      >>> t = TunerConfig(k_start=20.0, lr=0.5)
      >>> level = jnp.float32(20.0)
      >>> state = optax.adam(t.lr, b2=t.beta2).init(level)
      >>> down, _ = update_level(level, state, +0.3, t, 50)  # m rises with L0: go down
      >>> up, _ = update_level(level, state, -0.3, t, 50)    # m falls with L0: go up
      >>> float(down) < 20.0 < float(up)
      True
    """
    grad = slope + tuner.bias * abs(slope)
    updates, opt_state = optax.adam(tuner.lr, b2=tuner.beta2).update(jnp.asarray(grad, jnp.float32),
                                                     opt_state)
    hi = max(width - tuner.delta, tuner.k_min)
    return jnp.clip(optax.apply_updates(level, updates), tuner.k_min, hi), opt_state


def _measure_fn(metric: str, n: int):
    """A jitted ``(params, x [window, b, d]) -> metric`` (s_n^dec: mean over the window)."""

    @jax.jit
    def measure(params, x):
        if metric == "c_dec":
            return c_dec(params)
        return jnp.mean(jax.vmap(lambda xb: s_n_dec(params, xb, n))(x))

    return measure


class _Controller:
    """The tuner's state between chunks of :func:`toysae.sweep.train_sweep`: which k the
    next chunk trains at (:meth:`column`) and what a finished chunk measured
    (:meth:`measured`).  Chunks are ``period`` steps; after the warm-up, each cycle is a
    base and a probe chunk, base first in even cycles and probe first in odd ones."""

    def __init__(self, tuner: TunerConfig, warm: int, width: int):
        self.tuner, self.warm, self.width = tuner, warm, width
        self.level = jnp.asarray(tuner.k_start, jnp.float32)
        self.opt_state = optax.adam(tuner.lr, b2=tuner.beta2).init(self.level)
        self.cycle: dict = {}
        self.trajectory = {"step": [], "k": [], "m_base": [], "m_probe": []}

    def _position(self, chunk: int) -> tuple[int, bool]:
        """``(half, is_probe)`` of the ``chunk``-th chunk after the warm-up."""
        cycle, half = divmod(chunk, 2)
        return half, (half == 1) != (cycle % 2 == 1)

    def column(self, step: int) -> tuple[float]:
        if step < self.warm:
            return (float(self.level),)
        half, is_probe = self._position((step - self.warm) // self.tuner.period)
        if half == 0:
            k = float(self.level)
            self.cycle = {"k": k, "probe": min(k + self.tuner.delta, float(self.width))}
        return (self.cycle["probe"] if is_probe else self.cycle["k"],)

    def measured(self, step: int, m: float) -> None:
        """Takes the metric measured after the chunk that ended at ``step`` (> warm-up)."""
        half, is_probe = self._position((step - self.warm) // self.tuner.period - 1)
        self.cycle["m_probe" if is_probe else "m_base"] = m
        if half == 1:
            c = self.cycle
            slope = (c["m_probe"] - c["m_base"]) / max(c["probe"] - c["k"], 1e-6)
            self.level, self.opt_state = update_level(self.level, self.opt_state, slope,
                                                      self.tuner, self.width)
            for name, v in (("step", step), ("k", c["k"]), ("m_base", c["m_base"]),
                            ("m_probe", c["m_probe"])):
                self.trajectory[name].append(v)


def tune_l0(cfg: SweepConfig, tuner: TunerConfig, *, progress: bool = False,
            toy: ToyModel | None = None) -> dict:
    """Runs the online tuner once per seed of ``cfg`` (its ``ks`` are ignored).

    Args:
      cfg: toy model, SAE (an architecture whose column is k; ``width`` bounds L0),
        training budget and seeds.
      tuner: the tuner's settings.
      progress: a progress bar per seed (and its final estimate).
      toy: ``build_toy(cfg.toy)``, if the caller has it (built here otherwise).

    Returns:
      ``{"l0": mean estimate over seeds, "spread": std over seeds, "per_seed": [...],
      "trajectories": [{"step": [...], "k": [...], "m_base": [...], "m_probe": [...]}],
      "trainings": number of seeds}``.

    Raises:
      ValueError: for an architecture whose column is not k, or ``k_start`` above the
        width.

    Examples:
      >>> from toysae import presets, SAEConfig, SweepConfig, TrainConfig
      >>> cfg = SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
      ...                   train=TrainConfig(samples=256 * 40, batch_size=256, n_eval=1024),
      ...                   ks=(2.0,))
      >>> out = tune_l0(cfg, TunerConfig(k_start=4.0, period=10, window=2, warmup=0.0))
      >>> len(out["per_seed"]), len(out["trajectories"][0]["k"])
      (1, 2)
    """
    opts = step_options(cfg)
    if opts.arch.column != "k":
        raise ValueError(f"sae.arch={cfg.sae.arch!r} has a {opts.arch.column} column; the "
                         "online tuner adjusts k (an architecture whose column is k)")
    width = cfg.sae.width
    if tuner.k_start > width or tuner.k_min > width:
        raise ValueError(f"k_start={tuner.k_start}, k_min={tuner.k_min}; expected both in "
                         f"(0, width={width}]")
    t = cfg.train
    warm = (round(tuner.warmup * t.n_steps) // tuner.period) * tuner.period
    if warm + 2 * tuner.period > t.n_steps:
        raise ValueError(f"train.samples gives {t.n_steps} steps; the tuner needs at least "
                         f"warm-up {warm} + 2 · period = {warm + 2 * tuner.period}")
    n = tuner.n or s_n_for_width(width)
    toy = build_toy(cfg.toy) if toy is None else toy
    measure = _measure_fn(tuner.metric, n)
    eval_x = eval_inputs(toy, t, tuner.window * t.batch_size)
    eval_x = eval_x.reshape(tuner.window, t.batch_size, -1)
    # Whole cycles only: the run ends after the last (base, probe) pair.
    n_cycles = (t.n_steps - warm) // (2 * tuner.period)
    train = dataclasses.replace(t, samples=(warm + 2 * tuner.period * n_cycles)
                                * t.batch_size, chunk_steps=tuner.period)
    per_seed, trajectories = [], []
    for seed in cfg.seeds:
        one = dataclasses.replace(cfg, seeds=(seed,), ks=(float(tuner.k_start),),
                                  train=train)
        ctl = _Controller(tuner, warm, width)

        def on_chunk(step, state, logs, ctl=ctl):
            if step > warm:  # nothing is measured during the warm-up
                params = jax.tree.map(lambda a: a[0, 0], state.params)
                ctl.measured(step, float(measure(params, eval_x)))

        train_sweep(one, progress=progress, on_chunk=on_chunk, toy=toy, columns=ctl.column)
        traj = ctl.trajectory
        last = max(1, round(len(traj["k"]) * tuner.average_last))
        estimate = float(np.mean(traj["k"][-last:]))
        per_seed.append(estimate)
        trajectories.append(traj)
        if progress:
            print(f"online tuner, seed {seed}: L0 {tuner.k_start:g} -> {estimate:.2f}")
    return {"l0": float(np.mean(per_seed)), "spread": float(np.std(per_seed)),
            "per_seed": per_seed, "trajectories": trajectories, "trainings": len(cfg.seeds)}
