"""Choosing L0 from a k sweep (paper §3.4, A.10): a coarse-to-fine search over k
(:func:`search_k`) and :func:`find_l0`, which applies every rule to the sweeps it
trains: the curve rules of :mod:`toysae.l0_curves` (re-exported here) and the weight
rules of :mod:`toysae.l0_rules`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .generator import build_toy
from .l0_curves import L0Estimate, argmax_rule, argmin_rule, elbow_rule
from .l0_rules import alignment_rule, cross_seed_rule, live_c_dec_rule
from .metrics import s_n_for_width
from .run import run_sweep
from .tuner import TunerConfig, tune_l0

__all__ = ["L0Estimate", "argmax_rule", "argmin_rule", "coarse_grid", "elbow_rule",
           "find_l0", "search_k", "weight_rules"]


def coarse_grid(k_max: float, n: int = 6) -> tuple[float, ...]:
    """About ``n`` integer k values from 1 to ``k_max``, denser at low k (geometric).

    Examples:
      >>> coarse_grid(33.0)
      (1.0, 2.0, 4.0, 8.0, 16.0, 33.0)
    """
    ks = np.unique(np.round(np.geomspace(1.0, k_max, n)))
    return tuple(float(k) for k in ks)


def search_k(score, coarse: tuple[float, ...]) -> dict[float, float]:
    """Coarse-to-fine search for the integer k minimising a score.

    ``score(ks)`` trains (or looks up) the given k values and returns
    ``{k: value}``.  After the coarse grid, the bracket around the best k so far is
    narrowed by scoring the integer midpoints of its two halves, until both integer
    neighbours of the best k are scored: about ``2 · log2(range)`` extra k values for a
    unimodal curve instead of every integer.

    Returns:
      Every ``{k: value}`` scored.

    Examples:
      >>> seen = search_k(lambda ks: {k: (k - 11) ** 2 for k in ks}, (1.0, 4.0, 16.0, 33.0))
      >>> min(seen, key=seen.get), len(seen) < 33
      (11.0, True)
    """
    seen = dict(score(tuple(coarse)))
    while True:
        ks = sorted(seen)
        best = min(ks, key=lambda k: (seen[k], k))
        i = ks.index(best)
        lo = ks[i - 1] if i > 0 else best
        hi = ks[i + 1] if i + 1 < len(ks) else best
        new = {float(np.floor((lo + best) / 2)), float(np.ceil((best + hi) / 2))}
        new = tuple(sorted(k for k in new if k not in seen and lo < k < hi))
        if not new:
            return seen
        seen.update(score(new))


#: A latent counts as live for the weight rules when it fired in the last this many
#: training steps (SAELens's dead-feature window), or in the whole run if shorter.
LIVE_WINDOW = 1000


def weight_rules(ks, seeds, weights: dict, n_steps: int, skipped: dict) -> list[L0Estimate]:
    """The rules of :mod:`toysae.l0_rules` (cross-seed agreement, encoder-decoder
    alignment, c_dec over live latents; ours, issue 19) on the trained weights of every
    ``(seed, k)``: ``weights[(seed, k)] = (W_dec [h, d], W_enc [d, h], since_fired [h])``.
    A rule that cannot apply (one seed for cross-seed agreement; too few live latents)
    is left out, its reason put in ``skipped[rule]``."""
    def stack(i):
        return np.stack([np.stack([weights[(s, k)][i] for k in ks]) for s in seeds])

    w_dec, w_enc = stack(0), stack(1)
    live = stack(2) < min(LIVE_WINDOW, n_steps)
    out = []
    for name, fn in (("argmax_cross_seed", lambda: cross_seed_rule(ks, w_dec)),
                     ("argmax_enc_dec_alignment",
                      lambda: alignment_rule(ks, w_enc, w_dec, live)),
                     ("argmin_live_c_dec", lambda: live_c_dec_rule(ks, w_dec, live))):
        if name == "argmax_cross_seed" and len(seeds) < 2:
            skipped[name] = "needs at least 2 seeds"
            continue
        try:
            out.append(fn())
        except ValueError as err:
            skipped[name] = str(err)
    return out


def find_l0(sweep_cfg, *, k_max: float | None = None, out_dir=None, progress: bool = True,
            coarse_points: int = 6, online: bool = True, devices=None) -> dict:
    """Estimates the true L0 of a toy model from SAE sweeps, coarse grid then refined.

    Trains a coarse k grid (all seeds), narrows in on the seed-mean c_dec minimum with
    :func:`search_k`, and applies every rule to all k trained: ``argmin_c_dec``,
    ``argmin_s_n`` (n from :func:`s_n_for_width`) and ``elbow_c_dec``, and the rules on
    trained weights of :func:`weight_rules` (``argmax_cross_seed`` with 2 or more seeds,
    ``argmax_enc_dec_alignment``, ``argmin_live_c_dec``).

    Args:
      sweep_cfg: a :class:`~toysae.config.SweepConfig` giving toy, SAE, training and
        seeds (its ``ks`` are ignored).
      k_max: largest k tried (default: ``min(ceil(3 · true L0), max(3, ceil(width / 2)))``;
        for your own data, about 3 times your guess, and at most half the width).  Keep
        it well below the width: as k nears the width almost every latent fires, the SAE
        turns into a dense linear autoencoder whose decoder rows are nearly orthogonal,
        and c_dec falls again (family member 19, width 96, true L0 24.7, 1M samples:
        c_dec 0.027 at k = 39, 0.041 at 67, 0.016 at 96; member 3, width 68, true L0
        24.1: a search up to k = 68 ended there).  Half the width is also where the
        paper's own sweep stops (k = 1..25 at width 50).
      out_dir: cache directory for the sweeps (resumable).
      progress: progress bars.
      coarse_points: about how many coarse k values.
      online: also run the online tuner (:mod:`toysae.tuner`, paper A.11) once per seed,
        started at ``k_max``, with the paper's period of 100 steps (shorter when the
        budget has fewer than 4,000 steps: ``n_steps // 40``); its estimate is the rule
        ``online_tuner`` and its runs count as trainings.
      devices: shard each sweep's models over these devices (as :func:`run_sweep`).

    Returns:
      ``{"true_l0", "trainings", "ks", "dead_latents" (seed mean at each k of ``ks``),
      "estimates": {rule: {"l0", "spread", "per_seed", "curve"}}, "rules_not_applied":
      {rule: reason}}``.

    Example (a tiny budget, to show the call; ``tests/test_l0.py`` checks that a real
    one finds the small toy's true L0 of 2):
      >>> from toysae import presets, SAEConfig, SweepConfig, TrainConfig
      >>> cfg = SweepConfig(toy=presets.get("paper-small-pos"), sae=SAEConfig(width=5),
      ...                   train=TrainConfig(samples=4096, batch_size=256, n_eval=1024),
      ...                   ks=(1.0,))
      >>> res = find_l0(cfg, k_max=4, coarse_points=3, progress=False)
      >>> sorted(res["estimates"])  # doctest: +NORMALIZE_WHITESPACE
      ['argmax_enc_dec_alignment', 'argmin_c_dec', 'argmin_live_c_dec', 'argmin_s1_dec',
       'elbow_c_dec', 'online_tuner']
      >>> res["rules_not_applied"]
      {'argmax_cross_seed': 'needs at least 2 seeds'}
    """
    toy = build_toy(sweep_cfg.toy)  # once, for every sweep and the tuner
    width = sweep_cfg.sae.width
    if k_max is None:
        k_max = float(min(np.ceil(3 * sweep_cfg.toy.true_l0), max(3, np.ceil(width / 2))))
    records, weights = {}, {}

    def train(ks):
        cfg = dataclasses.replace(sweep_cfg, ks=ks)
        res = run_sweep(cfg, out_dir, progress=progress, devices=devices, toy=toy)
        for rec in res.records:
            records[(rec["seed"], rec["k"])] = rec
        w_dec, w_enc = (np.asarray(res.state.params[n]) for n in ("W_dec", "W_enc"))
        since = np.asarray(res.state.since_fired)
        for i, s in enumerate(cfg.seeds):
            for j, k in enumerate(cfg.ks):
                weights[(s, k)] = (w_dec[i, j], w_enc[i, j], since[i, j])

    seeds = sweep_cfg.seeds

    def mean_c_dec(ks):
        train(ks)
        return {k: float(np.mean([records[(s, k)]["c_dec"] for s in seeds])) for k in ks}

    search_k(mean_c_dec, coarse_grid(k_max, coarse_points))
    ks = sorted({k for _, k in records})
    n = s_n_for_width(width)

    def curve(name):
        return np.array([[records[(s, k)][name] for k in ks] for s in seeds])

    rules = [argmin_rule(ks, curve("c_dec"), "argmin_c_dec"),
             argmin_rule(ks, curve(f"s{n}_dec"), f"argmin_s{n}_dec"),
             elbow_rule(ks, curve("c_dec"), "elbow_c_dec")]
    skipped = {}
    rules += weight_rules(ks, seeds, weights, sweep_cfg.train.n_steps, skipped)
    out = {
        "true_l0": sweep_cfg.toy.true_l0,
        "trainings": len(records),
        "ks": ks,
        "dead_latents": curve("dead_latents").mean(axis=0).tolist(),
        "estimates": {e.rule: {"l0": e.l0, "spread": e.spread, "per_seed": list(e.per_seed),
                               "curve": list(e.curve)} for e in rules},
        "rules_not_applied": skipped,
    }
    if online:
        period = max(1, min(100, sweep_cfg.train.n_steps // 40))
        tuned = tune_l0(sweep_cfg, TunerConfig(k_start=k_max, period=period, n=n), toy=toy,
                        progress=progress)
        out["trainings"] += tuned["trainings"]
        out["estimates"]["online_tuner"] = {
            "l0": tuned["l0"], "spread": tuned["spread"], "per_seed": tuned["per_seed"],
            "curve": [tr["k"] for tr in tuned["trajectories"]]}
    return out
