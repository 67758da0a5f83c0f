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
from .l0_rules import (
    alignment_rule,
    cross_seed_agreement,
    cross_seed_rule,
    enc_dec_alignment,
    live_c_dec,
    live_c_dec_rule,
)
from .metrics import s_n_for_width
from .run import run_sweep
from .tuner import TunerConfig, tune_l0

__all__ = ["AGREEMENT_TRUST", "DEFAULT_RULE", "PANEL", "READINGS", "RULES", "L0Estimate",
           "argmax_rule",
           "argmin_rule", "coarse_grid", "confidence", "elbow_rule", "find_l0",
           "live_window", "refine_ks", "rule_name", "search_k", "search_k_together",
           "search_score", "sweep_rules", "weight_rules"]

#: Every rule :func:`find_l0` can report; ``argmin_s_n_dec`` is reported under the name
#: ``argmin_s{n}_dec`` of its n (:func:`~toysae.metrics.s_n_for_width`).
RULES = ("argmax_cross_seed", "argmin_c_dec", "argmin_live_c_dec",
         "argmax_enc_dec_alignment", "elbow_c_dec", "argmin_s_n_dec", "online_tuner")

#: The rule :func:`find_l0` answers with by default (with 2 or more seeds; with one seed
#: it falls back to ``argmin_c_dec``, the paper's rule for toy models, §3.4).  Ours: on
#: the paper's main toy at its budget (the reproduction's 125-SAE sweep, 5 seeds) the
#: matched cross-seed agreement is 1.000 at k = 11 against 0.986 at 12 and 0.950 at 10,
#: the sharpest peak of the rules (``docs/l0-study.md``).
DEFAULT_RULE = "argmax_cross_seed"

#: The rules whose agreement with the answer :func:`confidence` reports.  The elbow, the
#: s_n^dec argmin and the online tuner are left out: on the 30-member random family
#: (``figures/l0_generalisation.json``, width g) they land within ±1 of the true L0 on
#: 43%, 20% and 0% of members, so their disagreement says little about the answer.
PANEL = ("argmax_cross_seed", "argmin_c_dec", "argmin_live_c_dec",
         "argmax_enc_dec_alignment")

#: Matched decoder agreement between seeds (mean |cos|, :func:`~toysae.l0_rules.
#: cross_seed_agreement`) at the answer below which :func:`confidence` calls an estimate
#: unreliable.  Ours, set on issue 19's choosing split (family 0, members 0-14, width g,
#: 2M samples per SAE, ``figures/l0_protocol.json``): at the cross-seed rule's answer,
#: 5 of the 6 members at or above 0.9 had SAEs that recover the true features (seed-mean
#: MCC at least 0.9 at the k nearest the true L0), and 1 of the 9 below it.  Unlike g/d
#: or the true L0, a user can read it on their own data: it says whether the SAEs
#: settled on shared features at all.  On members below it, training longer raised the
#: MCC (``experiments/l0_budget.py``).
AGREEMENT_TRUST = 0.9

#: How to read a rule's answer, from where its misses fell on issue 19's protocol
#: (``figures/l0_protocol.json``; ours, not the paper's): :func:`confidence` returns it
#: as ``"reading"`` and ``toysae find-l0`` prints it.  The cross-seed rule finds the k
#: whose SAEs share (and recover) features best at the budget trained, and at 2M samples
#: per SAE, with SAEs as wide as the toy's number of features or half as wide, that k
#: lay below the true L0 in most of its misses and more than 1 above it in few; with
#: SAEs twice as wide it lay more than 1 above far more often (the fresh family at 2g).
READINGS = {
    "argmax_cross_seed": (
        "read it as nearly a floor if the SAE is no wider than the number of features "
        "the data holds: on our test toys at those widths this rule's answer was seldom "
        "more than 1 above the true L0 and often well below it, because at a short "
        "budget the SAEs with fewer active latents recover the features best; train "
        "with four times the --samples and see whether the answer moves up. With SAEs "
        "twice as wide it was more than 1 above far more often (spare latents that both "
        "seeds place alike raise the agreement at larger k), so a wide SAE's answer is "
        "no floor"),
}


def coarse_grid(k_max: float, n: int = 6) -> tuple[float, ...]:
    """About ``n`` integer k values from 1 to ``k_max``, denser at low k (geometric).

    Examples:
      >>> coarse_grid(33.0)
      (1.0, 2.0, 4.0, 8.0, 16.0, 33.0)
    """
    ks = np.unique(np.round(np.geomspace(1.0, k_max, n)))
    return tuple(float(k) for k in ks)


def refine_ks(seen: dict[float, float]) -> tuple[float, ...]:
    """The k values :func:`search_k` scores next, given every ``{k: value}`` scored so
    far: the integer midpoints of the two halves of the bracket around the best k (the
    smallest value; ties: the smaller k) that are not scored yet; ``()`` once both integer
    neighbours of the best k are scored.

    Examples:
      >>> refine_ks({1.0: 5.0, 4.0: 1.0, 16.0: 3.0})
      (2.0, 10.0)
      >>> refine_ks({3.0: 1.0, 4.0: 0.0, 5.0: 2.0})
      ()
    """
    ks = sorted(seen)
    best = min(ks, key=lambda k: (seen[k], k))
    i = ks.index(best)
    lo = ks[i - 1] if i > 0 else best
    hi = ks[i + 1] if i + 1 < len(ks) else best
    new = {float(np.floor((lo + best) / 2)), float(np.ceil((best + hi) / 2))}
    return tuple(sorted(k for k in new if k not in seen and lo < k < hi))


def search_k(score, coarse: tuple[float, ...]) -> dict[float, float]:
    """Coarse-to-fine search for the integer k minimising a score.

    ``score(ks)`` trains (or looks up) the given k values and returns
    ``{k: value}``.  After the coarse grid, the bracket around the best k so far is
    narrowed by scoring the integer midpoints of its two halves (:func:`refine_ks`),
    until both integer neighbours of the best k are scored: about ``2 · log2(range)``
    extra k values for a unimodal curve instead of every integer.

    Returns:
      Every ``{k: value}`` scored.

    Examples:
      >>> seen = search_k(lambda ks: {k: (k - 11) ** 2 for k in ks}, (1.0, 4.0, 16.0, 33.0))
      >>> min(seen, key=seen.get), len(seen) < 33
      (11.0, True)
    """
    seen = dict(score(tuple(coarse)))
    while new := refine_ks(seen):
        seen.update(score(new))
    return seen


def search_k_together(train, scores: dict, coarse: tuple[float, ...]) -> dict:
    """:func:`search_k` for several scores at once, in lockstep: each round
    ``train(ks)`` is called once with every k value any search asks for next (so one
    sweep trains them together), then each search scores its own.  Each search asks
    for, and returns, exactly what :func:`search_k` on its score alone would.

    Args:
      train: ``train(ks)`` makes the k values scorable (a no-op where they are).
      scores: ``{name: score}``, each ``score(ks) -> {k: value}``; a score that raises
        :class:`LookupError` (``args[0]``: the k values it lacks) ends its own search.
      coarse: the first k values every search scores.

    Returns:
      ``{name: {k: value}}`` (every k the search scored), or ``{name: LookupError}``
      for a search that ended on one.

    Examples:
      >>> calls = []
      >>> out = search_k_together(calls.append, {
      ...     "a": lambda ks: {k: (k - 11) ** 2 for k in ks},
      ...     "b": lambda ks: {k: (k - 3) ** 2 for k in ks}}, (1.0, 4.0, 16.0, 33.0))
      >>> [min(s, key=s.get) for s in out.values()], len(calls) < 8
      ([11.0, 3.0], True)
    """
    seen: dict = {name: {} for name in scores}
    ask = {name: tuple(coarse) for name in scores}
    while ask:
        train(tuple(sorted(set().union(*ask.values()))))
        nxt = {}
        for name, ks in ask.items():
            try:
                seen[name].update(scores[name](ks))
            except LookupError as err:
                seen[name] = err
                continue
            if new := refine_ks(seen[name]):
                nxt[name] = new
        ask = nxt
    return seen


#: A latent counts as live for the weight rules when it fired in the last this many
#: training steps (SAELens's dead-feature window), or in the whole run if shorter.
LIVE_WINDOW = 1000


def live_window(n_steps: int) -> int:
    """Steps within which a latent must have fired to count as live: :data:`LIVE_WINDOW`,
    or the whole run if it is shorter."""
    return min(LIVE_WINDOW, int(n_steps))


def weight_rules(ks, seeds, weights: dict, n_steps: int, skipped: dict) -> list[L0Estimate]:
    """The rules of :mod:`toysae.l0_rules` (cross-seed agreement, encoder-decoder
    alignment, c_dec over live latents; ours, issue 19) on the trained weights of every
    ``(seed, k)``: ``weights[(seed, k)] = (W_dec [h, d], W_enc [d, h], since_fired [h])``.
    A rule that cannot apply (one seed for cross-seed agreement; too few live latents)
    is left out, its reason put in ``skipped[rule]``."""
    def stack(i):
        return np.stack([np.stack([weights[(s, k)][i] for k in ks]) for s in seeds])

    w_dec, w_enc = stack(0), stack(1)
    live = stack(2) < live_window(n_steps)
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


def sweep_rules(ks, seeds, records: dict, weights: dict, n: int, n_steps: int,
                skipped: dict) -> dict[str, L0Estimate]:
    """Every rule of :data:`RULES` but the online tuner, on the SAEs of every ``(seed, k)``
    trained: the curve rules (``argmin_c_dec``, ``argmin_s{n}_dec``, ``elbow_c_dec``) and
    :func:`weight_rules`.  The one place a rule's name meets its function, shared by
    :func:`find_l0` and the studies that re-score kept sweeps.

    Args:
      ks: the k values to read (at least 3 for any rule to apply).
      seeds: the seeds trained.
      records: ``{(seed, k): sweep record}`` (``c_dec``, ``s{n}_dec``).
      weights: ``{(seed, k): (W_dec [h, d], W_enc [d, h], since_fired [h])}``.
      n: the n of s_n^dec (:func:`~toysae.metrics.s_n_for_width`).
      n_steps: training steps of each SAE (the live window is the last
        ``min(LIVE_WINDOW, n_steps)``).
      skipped: filled with ``{rule: reason}`` for each rule that cannot apply.

    Returns:
      ``{rule name: L0Estimate}`` (the s_n rule under ``argmin_s{n}_dec``).
    """
    ks = list(ks)

    def curve(name):
        return np.array([[records[(s, k)][name] for k in ks] for s in seeds])

    out = {}
    for name, fn in (("argmin_c_dec", lambda: argmin_rule(ks, curve("c_dec"), "argmin_c_dec")),
                     (f"argmin_s{n}_dec",
                      lambda: argmin_rule(ks, curve(f"s{n}_dec"), f"argmin_s{n}_dec")),
                     ("elbow_c_dec", lambda: elbow_rule(ks, curve("c_dec"), "elbow_c_dec"))):
        try:
            out[name] = fn()
        except ValueError as err:
            skipped[name] = str(err)
    if len(ks) < 3:  # the weight rules read a curve over k too
        skipped.update({r: f"needs at least 3 k values; got {len(ks)}"
                        for r in ("argmax_cross_seed", "argmax_enc_dec_alignment",
                                  "argmin_live_c_dec")})
        return out
    out.update({e.rule: e for e in weight_rules(ks, seeds, weights, n_steps, skipped)})
    return out


def confidence(estimates: dict, rule: str, tol: float | None = None,
               agreement: float | None = None) -> dict:
    """How far to trust ``estimates[rule]``: the agreement between its seeds and with the
    other rules of :data:`PANEL` that were applied, and how alike the seeds' decoders
    are at the answer.

    Args:
      estimates: ``{rule: {"l0", "per_seed", ...}}`` as :func:`find_l0` returns them.
      rule: the rule answered with.
      tol: largest distance (in L0) that counts as agreeing; default 10% of the answer
        (so at an answer below 10 only the same k agrees: on the small toy, 1M samples
        at batch 256, the cross-seed rule gave 3 where the c_dec rules gave the true 2).

    Returns:
      ``{"reliable", "seeds_agree", "rules_agree", "disagreeing_rules": {rule: l0},
      "tol", "sentence", "reading"}``: reliable when every per-seed (per-pair) estimate
      and every other panel rule is within ``tol`` of the answer; ``sentence`` says so in
      words, and when not, starts "the estimate is unreliable:" and names what
      disagrees; ``reading`` says how to read the rule's answer (:data:`READINGS`; None
      for a rule without one).

    Examples:
      >>> est = {"argmax_cross_seed": {"l0": 11.0, "per_seed": [11.0, 11.0, 12.0]},
      ...        "argmin_c_dec": {"l0": 14.0, "per_seed": [14.0, 14.0]}}
      >>> confidence(est, "argmax_cross_seed")["sentence"]
      'the estimate is unreliable: argmin_c_dec gives 14 (more than 1.1 from 11)'
      >>> confidence({"argmax_cross_seed": {"l0": 6.0, "per_seed": [6.0]}},
      ...            "argmax_cross_seed", agreement=0.77)["sentence"][:73]
      "the estimate is unreliable: the seeds' decoders agree only 0.77 at k = 6 "
    """
    if rule not in estimates:
        raise ValueError(f"rule={rule!r} has no estimate; expected one of {sorted(estimates)}")
    l0 = float(estimates[rule]["l0"])
    tol = 0.1 * abs(l0) if tol is None else float(tol)
    per = [float(v) for v in estimates[rule].get("per_seed", [])]
    seeds_off = [v for v in per if abs(v - l0) > tol]
    others = {r: float(e["l0"]) for r, e in estimates.items() if r in PANEL and r != rule}
    off = {r: v for r, v in others.items() if abs(v - l0) > tol}
    why = []
    if seeds_off:
        why.append(f"per-seed estimates {', '.join(f'{v:g}' for v in per)} spread more than "
                   f"{tol:.2g} from {l0:g}")
    why += [f"{r} gives {v:g} (more than {tol:.2g} from {l0:g})" for r, v in off.items()]
    shared = None if agreement is None else bool(agreement >= AGREEMENT_TRUST)
    if shared is False:
        why.append(f"the seeds' decoders agree only {agreement:.2f} at k = {l0:g} (below "
                   f"{AGREEMENT_TRUST}): the SAEs have not settled on shared features, "
                   "and on our test toys such SAEs rarely recovered the true ones; more "
                   "samples per SAE may help")
    if why:
        sentence = "the estimate is unreliable: " + "; ".join(why)
    else:
        sentence = (f"every seed{' and ' + ', '.join(others) if others else ''} agree"
                    f"{'s' if not others else ''} within {tol:.2g} of {l0:g}")
    return {"reliable": not why, "seeds_agree": not seeds_off, "rules_agree": not off,
            "disagreeing_rules": off, "agreement": agreement, "features_shared": shared,
            "tol": tol, "sentence": sentence, "reading": READINGS.get(rule)}


def search_score(rule: str, k: float, seeds, records: dict, weights: dict, n: int,
                 live_steps: int) -> float:
    """The value :func:`find_l0`'s search minimises at one k for ``rule``: the seed-mean
    c_dec (``argmin_c_dec``, and the rules without a score of their own at each k:
    ``elbow_c_dec``, ``online_tuner``) or s_n^dec, the negated mean cross-seed agreement
    or encoder-decoder alignment, or the mean c_dec over live latents (``inf`` where
    fewer than 2 latents are live: never the answer).

    Args:
      rule: one of :data:`RULES`.
      k: the k scored.
      seeds: the seeds trained.
      records: ``{(seed, k): sweep record}`` (``c_dec``, ``s{n}_dec``).
      weights: ``{(seed, k): (W_dec [h, d], W_enc [d, h], since_fired [h])}``.
      n: the n of s_n^dec.
      live_steps: a latent is live when it fired within this many steps.

    Returns:
      The score (lower is better).
    """
    def stacked(i):  # [S, 1, ...] weights of every seed at k
        return np.stack([weights[(s, k)][i] for s in seeds])[:, None]

    if rule == "argmax_cross_seed":
        return -float(cross_seed_agreement(stacked(0)).mean())
    if rule in ("argmax_enc_dec_alignment", "argmin_live_c_dec"):
        live = stacked(2) < live_steps
        if live.sum(axis=-1).min() < 2:
            return float("inf")
        if rule == "argmin_live_c_dec":
            return float(live_c_dec(stacked(0), live).mean())
        return -float(enc_dec_alignment(stacked(1), stacked(0), live).mean())
    metric = f"s{n}_dec" if rule == "argmin_s_n_dec" else "c_dec"
    return float(np.mean([records[(s, k)][metric] for s in seeds]))


def rule_name(rule: str, n: int) -> str:
    """The name a rule's estimate is reported under: ``argmin_s_n_dec`` as
    ``argmin_s{n}_dec``, every other rule as itself."""
    return f"argmin_s{n}_dec" if rule == "argmin_s_n_dec" else rule


def find_l0(sweep_cfg, *, k_max: float | None = None, out_dir=None, progress: bool = True,
            coarse_points: int = 6, online: bool = True, devices=None,
            rule: str | None = None) -> dict:
    """Estimates the true L0 of a toy model from SAE sweeps, coarse grid then refined.

    Trains a coarse k grid (all seeds), narrows in on the best k of ``rule``'s score
    with :func:`search_k` (the seed-mean c_dec for the rules that have no score of their
    own at each k: the elbow and the online tuner), answers with ``rule``'s estimate and
    its :func:`confidence`, and applies every other rule to all k trained too: ``argmin_c_dec``,
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
      rule: the rule to search with and answer with, one of :data:`RULES` (default
        :data:`DEFAULT_RULE` with 2 or more seeds, else ``argmin_c_dec``).

    Returns:
      ``{"true_l0", "rule", "l0" (the answer, ``rule``'s estimate), "confidence" (see
      :func:`confidence`), "trainings", "ks", "dead_latents" (seed mean at each k of
      ``ks``), "estimates": {rule: {"l0", "spread", "per_seed", "curve"}},
      "rules_not_applied": {rule: reason}}``.

    Raises:
      ValueError: before any training, if ``rule`` is not one of :data:`RULES`, or is
        ``argmax_cross_seed`` with one seed, or ``online_tuner`` with ``online=False``.

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
    seeds = sweep_cfg.seeds
    if rule is None:
        rule = DEFAULT_RULE if len(seeds) >= 2 else "argmin_c_dec"
    if rule not in RULES:
        raise ValueError(f"rule={rule!r}; expected one of {RULES}")
    if rule == "argmax_cross_seed" and len(seeds) < 2:
        raise ValueError(f"rule='argmax_cross_seed' needs at least 2 seeds; got seeds={seeds}")
    if rule == "online_tuner" and not online:
        raise ValueError("rule='online_tuner' needs online=True")
    toy = build_toy(sweep_cfg.toy)  # once, for every sweep and the tuner
    width = sweep_cfg.sae.width
    n = s_n_for_width(width)
    live_steps = live_window(sweep_cfg.train.n_steps)
    if k_max is None:
        k_max = float(min(np.ceil(3 * sweep_cfg.toy.true_l0), max(3, np.ceil(width / 2))))
    records, weights = {}, {}

    def train(ks):
        cfg = dataclasses.replace(sweep_cfg, ks=ks)
        res = run_sweep(cfg, out_dir, progress=progress, devices=devices, toy=toy)
        for rec in res.records:
            records[(rec["seed"], rec["k"])] = rec
        w_dec, w_enc = (np.asarray(res.state.params[p]) for p in ("W_dec", "W_enc"))
        since = np.asarray(res.state.since_fired)
        for i, s in enumerate(cfg.seeds):
            for j, k in enumerate(cfg.ks):
                weights[(s, k)] = (w_dec[i, j], w_enc[i, j], since[i, j])

    def score(ks):
        train(ks)
        return {k: search_score(rule, k, seeds, records, weights, n, live_steps) for k in ks}

    search_k(score, coarse_grid(k_max, coarse_points))
    ks = sorted({k for _, k in records})
    skipped = {}
    rules = sweep_rules(ks, seeds, records, weights, n, sweep_cfg.train.n_steps, skipped)
    dead = np.array([[records[(s, k)]["dead_latents"] for k in ks] for s in seeds])
    name = rule_name(rule, n)
    out = {
        "true_l0": sweep_cfg.toy.true_l0,
        "rule": name,
        "trainings": len(records),
        "ks": ks,
        "dead_latents": dead.mean(axis=0).tolist(),
        "estimates": {r: {"l0": e.l0, "spread": e.spread, "per_seed": list(e.per_seed),
                          "curve": list(e.curve)} for r, e in rules.items()},
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
    if name not in out["estimates"]:  # e.g. too few live latents at every k
        raise ValueError(f"rule={rule!r} could not be applied: "
                         f"{skipped.get(name, 'no estimate')}")
    out["l0"] = out["estimates"][name]["l0"]
    agreement = None
    if len(seeds) >= 2:  # at the trained k nearest the answer
        k_ans = min(ks, key=lambda k: abs(k - out["l0"]))
        agreement = -search_score("argmax_cross_seed", k_ans, seeds, records, weights, n,
                                  live_steps)
    out["confidence"] = confidence(out["estimates"], name, agreement=agreement)
    return out
