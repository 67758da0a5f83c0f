"""Where every claim row comes from, and the rows that read the source faithfully.

Issue 21: a claim is the source's own sentence.  :data:`SOURCES` gives every claim id its
``source`` (the sentence, where it was said, and whether it is quoted verbatim) and its
``origin``:

* ``"paper"``: a faithful test of *Sparse but Wrong* (or of what its authors' reference
  code does);
* ``"literature"``: a faithful test of another paper's sentence;
* ``"toysae"``: a rule of ours, stricter than the sentence it starts from, kept with its
  own verdict beside the faithful row it names under ``"beside"`` (None for a claim of
  our own that no source makes), so nothing disappears from the table.

Verbatim quotes are those available offline (the paper's words collected in the project's
``paper-facts.md``, the abstracts, the reference notebook); where the paper's sentence was
not available, ``source.text`` describes the figure in our words and ``verbatim`` is
False, so no paraphrase is presented as a quote.

:func:`derived` computes the faithful rows that older results files lack, from numbers
those files already hold (or, for Theorem 1, from the closed form): the reproduction's
claim table is then faithful without retraining anything.  A row a results file already
has is never computed twice.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from claim_records import claim

PAPER = "Chanin & Garriga-Alonso 2025 (arXiv 2508.16560 v3)"
NOTEBOOK = "the authors' reference notebooks (chanind/sparse-but-wrong-paper, SAELens 6.11)"


def _src(text: str, where: str, verbatim: bool, by: str = PAPER) -> dict:
    return {"text": text, "where": f"{by}, {where}", "verbatim": verbatim}


_FIG1 = _src("At k = 11 the decoder recovers every true feature (cosine ≈ 1 on the matched "
             "diagonal)", "§3.2, Fig 1", False)
_ABSTRACT_LOW = _src("If L0 is too low, the SAE will mix correlated features to improve "
                     "reconstruction.", "abstract", True)
_A9 = _src("the slope of s_n^dec is flat when L0 is slightly higher than the true L0",
           "A.9", True)
_A31 = _src("When there is no correlation, there is no mixing", "A.3.1 (from Figs 11–12)",
            True)
_THM1 = _src("Then the SAE that minimizes expected MSE will have latents that mix f1 and f2",
             "A.5, Theorem 1 (for P12 > 0)", True)
_THM1_PROOF = _src("When P12>P1/2, we have E[L(0.5)]<E[L(1)]", "A.5, proof of Theorem 1",
                   True)
_OVERLAP = _src("Near-random (superposed) feature directions in 20-d, k = 1.9: the same "
                "sign-matched mixing, noisier; the reference computes the mixing as the "
                "decoder cosines of latents 1–3 with f0, with no control", "A.3.3, Fig 14",
                False)

_K2 = _src("k = 2 (the true L0) from random init recovers the features (each figure shows "
           "one trained SAE)", "§3.1, Figs 2–3", False)

#: ``id -> {"source", "origin"}`` for every claim row of the reproduction.
SOURCES: dict[str, dict] = {
    "main.k11_recovers": {"source": _FIG1, "origin": "paper"},
    "main.k5_mse_below_ground_truth": {"source": _src(
        "At L0 = 5, on 100k samples, the trained SAE's MSE is 2.73 against 4.88 for the "
        "ground-truth SAE run at k = 5", "§3.3", False), "origin": "paper"},
    "main.ve_above_ground_truth_below_l0": {"source": _src(
        "For every L0 below 11 the trained SAEs explain more variance than the ground-truth "
        "SAE at the same L0", "Fig 4", False), "origin": "paper"},
    "main.c_dec_argmin_at_11": {"source": _src(
        "Shaded area is 1 stdev. c_dec is minimized at the true L0.", "Fig 6 caption", True),
        "origin": "paper"},
    "main.s12_dec_argmin_at_11": {"source": _A9, "origin": "toysae",
        "beside": "main.s12_dec_flat_above"},
    "main.s18_dec_argmin_at_11": {"source": _A9, "origin": "toysae",
        "beside": "main.s18_dec_flat_above"},
    "main.s12_dec_flat_above": {"source": _A9, "origin": "paper"},
    "main.s18_dec_flat_above": {"source": _A9, "origin": "paper"},
    "main.gt_init_k5_drifts": {"source": _src(
        "Initialised at the ground truth, the k = 5 SAE drifts away from it: gradient "
        "pressure, not a bad local minimum", "§3.2, Fig 1", False), "origin": "paper"},
    "sched.20to11_recovers": {"source": _src(
        "Changing k linearly from 20 to 11 during training recovers the true features",
        "A.8, Fig 16", False), "origin": "paper"},
    "sched.2to11_does_not_recover": {"source": _src(
        "Changing k linearly from 2 to 11 does not recover the true features", "A.8, Fig 16",
        False), "origin": "paper"},
    "super.c_dec_argmin_near_true_l0": {"source": _src(
        "With 50 features in d = 40 (superposition), c_dec is still roughly minimised at the "
        "true L0", "A.4.1, Fig 15", False), "origin": "paper"},
    "jumprelu.l0_sticks": {"source": _src(
        "JumpReLU's achieved L0 sticks near the true L0 of 11 over a wide range of λ",
        "§3.6, Fig 7", False), "origin": "toysae",
        "beside": "jumprelu.matches_reference"},
    "jumprelu.matches_reference": {"source": _src(
        "we show here that the same findings still hold for JumpReLU SAEs as well", "JumpReLU "
        "notebook, whose achieved L0 over the paper's λ grid is the reference matched", True,
        by=NOTEBOOK), "origin": "paper"},
    "jumprelu.reference_band": {"source": _src(
        "we show here that the same findings still hold for JumpReLU SAEs as well", "JumpReLU "
        "notebook; the band is issue 21's reading of its run", True, by=NOTEBOOK),
        "origin": "toysae", "beside": "jumprelu.matches_reference"},
    "jumprelu.c_dec_min_at_true_l0": {"source": _src(
        "c_dec against achieved L0 is minimised at the true L0 of 11", "§3.6, Fig 7", False),
        "origin": "paper"},
    "small.sign_follows_correlation": {"source": _ABSTRACT_LOW, "origin": "paper"},
    "small.monotone_in_correlation": {"source": _src(
        "At k = 1.8, the mixing is monotone in the correlation", "A.3.1, Figs 11–12", False),
        "origin": "paper"},
    "small.zero_at_zero_correlation": {"source": _A31, "origin": "toysae",
        "beside": "small.no_mixing_at_zero_correlation"},
    "small.no_mixing_at_zero_correlation": {"source": _A31, "origin": "paper"},
    "small.grows_as_k_falls": {"source": _src(
        "At c = ±0.4 the mixing grows as k falls below 2", "A.3.2, Fig 13", False),
        "origin": "paper"},
    "small.k2_recovers": {"source": _K2, "origin": "paper"},
    "small.k2_recovers_every_seed": {"source": _K2, "origin": "toysae",
        "beside": "small.k2_recovers"},
    "small.near_orthogonal_sign": {"source": _src(
        "Near-orthogonal feature directions, k = 1.9: the same sign-matched mixing",
        "A.3.3, Fig 14", False), "origin": "paper"},
    "small.overlapping_sign_raw": {"source": _OVERLAP, "origin": "paper"},
    "small.overlapping_sign_raw_every_seed": {"source": _OVERLAP, "origin": "toysae",
        "beside": "small.overlapping_sign_raw"},
    "small.overlapping_sign": {"source": _OVERLAP, "origin": "toysae",
        "beside": "small.overlapping_sign_raw"},
    "small.overlapping_sign_minus_ground_truth": {"source": _OVERLAP, "origin": "toysae",
        "beside": "small.overlapping_sign_raw"},
    "theorem1.mc_matches_formula": {"source": _src(
        "E[L(α)] = m² / (α² + (1 − α)²) · [P1 (1 − α)² + P12 (1 − 2α)²]", "A.5", False),
        "origin": "paper"},
    "theorem1.mixes_whenever_p12_positive": {"source": _THM1, "origin": "paper"},
    "theorem1.half_beats_one_iff": {"source": _THM1_PROOF, "origin": "paper"},
    "theorem1.gd_moves_iff": {"source": _THM1_PROOF, "origin": "toysae",
        "beside": "theorem1.half_beats_one_iff"},
    "theorem1.gd_passes_even_mix_iff": {"source": _THM1_PROOF, "origin": "toysae",
        "beside": "theorem1.half_beats_one_iff"},
    "absorption.batchtopk_absorbs": {"source": _src(
        "seemingly monosemantic features fail to fire where they should, and instead get "
        "“absorbed” into their children features", "abstract (their toy: an L1 SAE)", True,
        by="Chanin et al. 2024, A is for Absorption"), "origin": "toysae",
        "beside": None},
    "absorption.matryoshka_less": {"source": _src(
        "without incentive to absorb the high-level features", "abstract", True,
        by="Bussmann et al. 2025, Matryoshka SAEs"), "origin": "literature"},
    "absorption.below_true_l0": {"source": _src(
        "is caused by optimizing for sparsity in SAEs whenever the underlying features form "
        "a hierarchy", "abstract", True, by="Chanin et al. 2024, A is for Absorption"),
        "origin": "toysae",
        "beside": None},
}

#: Rule of the faithful s_n^dec rows: the mean |slope| just above the true L0 (k = 11 → 13)
#: is below this fraction of the mean |slope| just below it (k = 9 → 11), seed means (ours:
#: "flat" read as a quarter of the slope on the other side).
FLAT_FRACTION = 0.25
#: Rule of the faithful "no mixing" row: |mixing at c = 0| below this fraction of the
#: smallest |mixing| at c = ±0.1 (ours: "no mixing" read off a plot whose neighbours are
#: ±0.1 apart).
NO_MIXING_FRACTION = 0.1


def _main_toy(res: dict) -> list[dict]:
    out = []
    by_k = res.get("by_k", {})
    for n in (12, 18):
        key = f"s{n}_dec"
        m = {int(float(k)): v[key]["mean"] for k, v in by_k.items() if key in v}
        if not all(k in m for k in (9, 10, 11, 12, 13)):
            continue
        below = (abs(m[10] - m[9]) + abs(m[11] - m[10])) / 2
        above = (abs(m[12] - m[11]) + abs(m[13] - m[12])) / 2
        ratio = above / below if below > 0 else float("inf")
        out.append(claim(
            f"main.s{n}_dec_flat_above",
            f"s_{n}^dec is flat just above the true L0 (rule, ours: mean |slope| over k = 11 → "
            f"13 below {FLAT_FRACTION:g} × that over k = 9 → 11, 5-seed means)",
            "the slope of s_n^dec is flat when L0 is slightly higher than the true L0 (A.9)",
            f"mean |slope| {above:.4f} above vs {below:.4f} below (ratio {ratio:.3f}); seed "
            "means k = 9..13: " + ", ".join(f"{m[k]:.4f}" for k in range(9, 14)),
            ratio < FLAT_FRACTION, ratio=ratio, means={str(k): m[k] for k in range(9, 14)}))
    return out


def _small_toy(res: dict) -> list[dict]:
    out = []
    mix = res.get("mixing_vs_corr_k1.8", {})
    if all(c in mix for c in ("+0.0", "+0.1", "-0.1")):
        zero = abs(mix["+0.0"]["mean"])
        near = min(abs(mix["+0.1"]["mean"]), abs(mix["-0.1"]["mean"]))
        ratio = zero / near
        out.append(claim(
            "small.no_mixing_at_zero_correlation",
            f"k = 1.8: no mixing at zero correlation (rule, ours: |seed mean at c = 0| below "
            f"{NO_MIXING_FRACTION:g} × the smallest |seed mean| at c = ±0.1, as a plot shows it)",
            "When there is no correlation, there is no mixing (A.3.1)",
            f"|mixing| {zero:.4f} at c = 0 against {near:.4f} at c = ±0.1 (ratio {ratio:.3f})",
            ratio < NO_MIXING_FRACTION, ratio=ratio))
    rd = res.get("random_directions_k1.9", {}).get("k=1.9", {})
    if "+0.4" in rd and "-0.4" in rd:
        # The figure (Fig 14) plots mean ± std over 5 runs of the reference's reading
        # (latents 1-3 by index); older results files hold only our matched latents 1-4.
        ref = "mixing_reference" if "mixing_reference" in rd["+0.4"] else "mixing"
        means = {c: rd[c][ref]["mean"] for c in ("+0.4", "-0.4")}
        how = ("latents 1-3 by index, the reference's reading" if ref == "mixing_reference"
               else "latents matched to f1-f4")
        out.append(claim(
            "small.overlapping_sign_raw",
            f"random overlapping directions, k = 1.9: the 5-seed mean mixing ({how}, raw) has "
            "the sign of c (rule, ours for reading a mean ± std plot)",
            "same sign-matched mixing, noisier (Fig 14)",
            f"seed means: {means['+0.4']:+.3f} at c=+0.4, {means['-0.4']:+.3f} at c=-0.4; "
            "per seed: c=+0.4: " + ", ".join(f"{v:+.3f}" for v in rd["+0.4"][ref]["per_seed"])
            + "; c=-0.4: " + ", ".join(f"{v:+.3f}" for v in rd["-0.4"][ref]["per_seed"]),
            means["+0.4"] > 0 > means["-0.4"], reading=ref, means=means))
        for reading, key, cid in (
                ("raw", ref, "small.overlapping_sign_raw_every_seed"),
                ("minus the untrained ground-truth SAE's mixing", "minus_ground_truth",
                 "small.overlapping_sign_minus_ground_truth")):
            pos, neg = rd["+0.4"][key]["per_seed"], rd["-0.4"][key]["per_seed"]
            wrong = sum(v <= 0 for v in pos) + sum(v >= 0 for v in neg)
            out.append(claim(
                cid,
                f"random overlapping directions, k = 1.9: mixing, {reading}, has the sign of "
                "c in every seed",
                "same sign-matched mixing, noisier (Fig 14)",
                "c=+0.4: " + ", ".join(f"{v:+.3f}" for v in pos) + "; c=-0.4: "
                + ", ".join(f"{v:+.3f}" for v in neg) + f"; sign mismatches: {wrong} of "
                f"{len(pos) + len(neg)}",
                wrong == 0, mismatches=wrong))
    return out


#: Rule of the faithful JumpReLU row: our achieved L0 within this relative distance of the
#: reference notebook's at every λ where neither run collapsed (L0 ≥ 9 in both; ours,
#: chosen after the first full run with the reference recipe, one seed each side).
MATCH_REL = 0.10


def _jumprelu(res: dict) -> list[dict]:
    rows = res.get("recipes", {}).get("reference", {}).get("per_lambda")
    ref = res.get("settings", {}).get("reference_l0")
    if not rows or not ref:
        return []
    pairs = [(r["lambda"], r["l0"], b) for r, b in zip(rows, ref, strict=True)]
    live = [(lam, a, b) for lam, a, b in pairs if a >= 9 and b >= 9]
    rel = [abs(a - b) / b for _, a, b in live]
    return [claim(
        "jumprelu.matches_reference",
        f"With the reference recipe, our achieved L0 matches the authors' notebook within "
        f"{MATCH_REL:.0%} at every λ where neither collapsed (rule, ours: added after the "
        "first full run; one seed each)",
        "notebook's achieved L0 per λ: " + ", ".join(f"{lam:g}: {b:g}" for lam, _, b in pairs),
        "ours: " + ", ".join(f"{lam:g}: {a:.1f}" for lam, a, _ in pairs)
        + f"; largest relative difference {max(rel):.1%} over {len(live)} λ values",
        max(rel) <= MATCH_REL, max_rel=max(rel), compared=[lam for lam, _, _ in live])]


def _theorem1(res: dict) -> list[dict]:
    from toysae.theory import expected_loss, optimal_alpha

    p1 = 0.4
    grid = np.linspace(0.0, p1, 41)[1:]  # P12 in (0, P1]
    alpha = np.asarray([float(optimal_alpha(p1, p)) for p in grid])
    half = np.asarray([float(expected_loss(0.5, p1, p)) for p in grid])
    one = np.asarray([float(expected_loss(1.0, p1, p)) for p in grid])
    off = np.abs(grid - p1 / 2) > 1e-9  # the boundary P12 = P1/2 is a tie
    iff = bool(np.all((half < one)[off] == (grid > p1 / 2)[off]))
    return [
        claim("theorem1.mixes_whenever_p12_positive",
              "the MSE-optimal latent mixes f1 and f2 (α* < 1) whenever P12 > 0 (P1 = 0.4, "
              "40 values of P12 in (0, P1])",
              "the SAE that minimizes expected MSE will have latents that mix f1 and f2 (A.5)",
              f"α* from {alpha.min():.3f} to {alpha.max():.4f} over P12 = {grid[0]:.2f}..."
              f"{grid[-1]:.2f}", bool(np.all(alpha < 1.0)), alpha_max=float(alpha.max())),
        claim("theorem1.half_beats_one_iff",
              "E[L(½)] < E[L(1)] exactly when P12 > P1/2 (P1 = 0.4, 40 values of P12)",
              "When P12>P1/2, we have E[L(0.5)]<E[L(1)] (A.5)",
              f"E[L(½)] < E[L(1)] at {int((half < one).sum())} of {len(grid)} values, all with "
              f"P12 > P1/2 = {p1 / 2:g}", iff),
    ]


#: ``results stem -> rows computed from that results file``.
DERIVED: dict[str, Callable[[dict], list[dict]]] = {
    "main_toy": _main_toy, "small_toy": _small_toy, "theorem1": _theorem1,
    "jumprelu": _jumprelu,
}


def derived(stem: str, results: dict) -> list[dict]:
    """The faithful rows of ``stem``'s results that the file itself does not have."""
    have = {c["id"] for c in results.get("claims", [])}
    fn = DERIVED.get(stem)
    return [] if fn is None else [c for c in fn(results) if c["id"] not in have]


def annotate(rec: dict) -> dict:
    """``rec`` with its ``source`` and ``origin`` (a claim id without a source is an
    error: every row must say where it comes from)."""
    if rec["id"] not in SOURCES:
        raise KeyError(f"claim {rec['id']!r} has no entry in experiments/claim_sources.py")
    return {**rec, **SOURCES[rec["id"]]}
