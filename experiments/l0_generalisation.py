"""How often does each L0-selection rule find the true L0 on toy models nobody tuned
for?  (issue 4; paper §3.4, A.10, A.11 leave this open.)

For each member of the random toy family (:mod:`toysae.family`, seed 0) and each SAE
width (g, g/2 and 2g: the paper leaves the width–L0 interaction open), runs
:func:`toysae.find_l0` (coarse k grid from 1 to k_max = min(3 · true L0, width / 2),
then refined around the seed-mean c_dec minimum, plus the online tuner started at that
k_max) and compares every rule's estimate with the known true L0.  The paper's main toy model is
run first with the same budget, so its rules are reported beside the family's.

Budget (decided here, the paper has no setting for this study; 90 member-widths must
fit a few hours on 2 CPU cores): 1M samples per SAE, batch 256 (3,906 Adam steps), lr
1e-3 — the budget at which the teaching demo recovers the main toy at k = 11 — seeds 0
and 1.  ``--quick``: 3 small members, 200k samples, seed 0.  The widths are run one
after another over all members (width g first, the study's headline), every sweep is
cached under ``--out-dir``, and the JSON and figure are rewritten after each
member-width, so an interrupted study resumes where it stopped; ``compute_s`` sums the
wall time of every member-width, over sessions.

Outputs (``figures/``, ``*_quick`` with ``--quick``):
  l0_generalisation.json  {"family", "settings", "main_toy", "models": [...],
                          "hit_rates": {WIDTH: {RULE: {"within_1", "within_10pct",
                          "mean_signed_error", "n"}}}, "failures": [...], "trainings",
                          "trainings_full_sweep", "compute_s", "partial"}
  l0_generalisation.png   estimate against true L0 per rule (width g), and hit rates

Usage: ``python experiments/l0_generalisation.py [--quick] [--n-models 30]
[--widths g,g/2,2g] [--members A-B]``

Processes with disjoint ``--widths`` or ``--members`` (e.g. ``--members 0-14`` and
``--members 15-29``) can run side by side on the same ``--fig-dir``: each merges the
others' finished member-widths into the JSON (under a file lock).  On 2 CPU cores that
uses the machine better than one process, whose small per-step kernels leave a core idle.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

import common
import matplotlib.pyplot as plt
import numpy as np
from common import output_name, release_compiled, save_figure, write_json

from toysae import SAEConfig, SweepConfig, TrainConfig, build_toy, c_dec, find_l0, presets
from toysae.family import FamilySpec, describe, draw_toy
from toysae.l0 import s_n_for_width

WIDTHS = ("g", "g/2", "2g")
FULL = dict(spec=FamilySpec(seed=0), samples=1_000_000, batch_size=256, lr=1e-3,
            seeds=(0, 1), n_models=30)
QUICK = dict(spec=FamilySpec(seed=0, g_range=(20, 40), l0_range=(2.0, 6.0)),
             samples=200_000, batch_size=256, lr=1e-3, seeds=(0,), n_models=3)


def width_of(name: str, g: int) -> int:
    return {"g": g, "g/2": max(2, g // 2), "2g": 2 * g}[name]


def settings_of(setup: dict) -> dict:
    return {k: setup[k] for k in ("samples", "batch_size", "lr", "seeds", "n_models")} | {
        "widths": WIDTHS, "k_max": "min(ceil(3 * true L0), max(3, ceil(width / 2)))"}


def sweep_config(toy, width_name: str, setup: dict) -> SweepConfig:
    return SweepConfig(toy=toy, sae=SAEConfig(width=width_of(width_name, toy.n_features)),
                       train=TrainConfig(samples=setup["samples"],
                                         batch_size=setup["batch_size"], lr=setup["lr"]),
                       ks=(1.0,), seeds=setup["seeds"])


def rule_rows(res: dict, true: float) -> dict:
    """Per-rule estimate, error and hits of a :func:`find_l0` result."""
    est = {}
    for name, e in res["estimates"].items():
        # The s_n^dec rule is named by its n, which follows the width: one name here.
        rule = re.sub(r"^argmin_s\d+_dec$", "argmin_s_n_dec", name)
        err = e["l0"] - true
        est[rule] = {"rule_name": name, "l0": e["l0"], "spread": e["spread"],
                     "per_seed": e["per_seed"], "error": err,
                     "within_1": abs(err) <= 1.0, "within_10pct": abs(err) <= 0.1 * true,
                     "curve": e.get("curve")}
    return est


def study_one(toy, width_name: str, setup: dict, out_dir: str, progress: bool) -> dict:
    """find_l0 on one toy model at one width; estimates and errors per rule."""
    cfg = sweep_config(toy, width_name, setup)
    t0 = time.perf_counter()
    # This study searched around the c_dec minimum (find_l0's default before issue 19).
    res = find_l0(cfg, out_dir=out_dir, progress=progress, devices=common._DEVICES,
                  rule="argmin_c_dec")
    return {"width": cfg.sae.width, "trainings": res["trainings"], "ks": res["ks"],
            "estimates": rule_rows(res, toy.true_l0),
            "wall_s": round(time.perf_counter() - t0, 1),
            "dead_latents": res.get("dead_latents"), "s_n": s_n_for_width(cfg.sae.width)}


def refresh_s_n(row: dict, toy, width_name: str, setup: dict, out_dir: str) -> bool:
    """Brings a finished row up to the current n of the s_n^dec rule
    (:func:`toysae.l0.s_n_for_width`) without training: the sweeps are re-read from the
    cache (same k search, since c_dec is unchanged; their records hold s_n^dec for every
    n that rule can give); the online tuner's estimate, trainings and wall time are kept.
    Returns whether the row changed."""
    cfg = sweep_config(toy, width_name, setup)
    n = s_n_for_width(cfg.sae.width)
    if row.get("s_n") == n:
        return False
    res = find_l0(cfg, out_dir=out_dir, progress=False, online=False, rule="argmin_c_dec",
                  devices=common._DEVICES)
    if list(res["ks"]) != list(row["ks"]):
        raise RuntimeError(f"cached sweeps (true L0 {toy.true_l0:.2f}, width {width_name}) "
                           f"give k values {res['ks']}, the stored row {row['ks']}")
    new = rule_rows(res, toy.true_l0)
    row["estimates"] = {r: new.get(r, e) for r, e in row["estimates"].items()}
    row["s_n"] = n
    return True


def hit_rates(models: list[dict]) -> dict:
    out = {}
    for w in WIDTHS:
        rows = [m["widths"][w] for m in models if w in m["widths"]]
        rules = sorted({r for row in rows for r in row["estimates"]})
        out[w] = {}
        for rule in rules:
            es = [row["estimates"][rule] for row in rows if rule in row["estimates"]]
            out[w][rule] = {"n": len(es),
                            "within_1": float(np.mean([e["within_1"] for e in es])),
                            "within_10pct": float(np.mean([e["within_10pct"] for e in es])),
                            "mean_signed_error": float(np.mean([e["error"] for e in es]))}
    return out


def true_c_dec(spec: FamilySpec, index: int) -> float:
    """c_dec of the member's true features, as if they were an SAE's decoder rows: 0 for
    orthogonal features, larger the more they must overlap (superposition)."""
    return float(c_dec({"W_dec": build_toy(draw_toy(spec, index)).features}))


def failure_reason(model: dict, row: dict, rule: str) -> str:
    """A one-line diagnosis of a miss: superposition, dead latents near the true L0, a
    c_dec curve that dips below the true features' own c_dec (``model["c_dec_true"]``),
    an estimate at the edge of the k range searched, a flat curve or a flat bottom, and
    how far above its minimum the curve is at the true L0."""
    reasons = []
    if model["g"] > model["d"]:
        reasons.append(f"superposition (g={model['g']} > d={model['d']})")
    ks, dead = row.get("ks") or [], row.get("dead_latents") or []
    if ks and dead:
        near = int(np.argmin([abs(k - model["true_l0"]) for k in ks]))
        if dead[near] > 0.05 * row["width"]:
            reasons.append(f"dead latents near the true L0 ({dead[near]:.0f} of "
                           f"{row['width']} at k={ks[near]:g})")
    est = row["estimates"][rule]["l0"]
    curve = row["estimates"][rule].get("curve") or []
    truth = model.get("c_dec_true")
    if truth is not None and rule.endswith("c_dec") and len(curve) and min(curve) < truth:
        reasons.append(f"trained SAEs reach a lower c_dec ({min(curve):.4f}) than the true "
                       f"features have ({truth:.4f})")
    if ks and rule != "online_tuner" and est in (ks[0], ks[-1]):
        reasons.append(f"estimate at the edge of the searched range (k={est:g})")
    if rule == "online_tuner":
        ends = ", ".join(f"{c[0]:.1f} -> {c[-1]:.1f}" for c in curve if c)
        reasons.append(f"tuner L0 per seed {ends}")
    elif len(curve):
        mean = np.asarray(curve, dtype=float)
        span = (mean.max() - mean.min()) / max(abs(mean.mean()), 1e-12)
        if span < 0.1:
            reasons.append(f"flat curve (range {span:.0%} of its mean)")
        elif len(ks) == len(mean):
            reasons.extend(_shape_of_minimum(np.asarray(ks, float), mean, model["true_l0"]))
    return "; ".join(reasons) or "no simple cause found"


FLAT_NEAR_MIN = 0.05  # "near the minimum": within 5% of it


def _shape_of_minimum(ks: np.ndarray, curve: np.ndarray, true_l0: float) -> list[str]:
    """Where the curve is near its minimum, and how far above it the curve is at the
    searched k nearest the true L0.  A minimum spread over many k (a flat bottom) lets
    seed noise pick the estimate; a curve well above its minimum at the true L0 means
    the metric itself prefers another L0 for this model."""
    floor = curve.min()
    scale = max(abs(floor), 1e-12)
    near_min = ks[curve <= floor + FLAT_NEAR_MIN * scale]
    out = []
    if near_min.max() - near_min.min() > 2:
        out.append(f"flat bottom (within {FLAT_NEAR_MIN:.0%} of the minimum for "
                   f"k = {near_min.min():g}..{near_min.max():g})")
    i = int(np.argmin(np.abs(ks - true_l0)))
    above = (curve[i] - floor) / scale
    if above > FLAT_NEAR_MIN:
        out.append(f"at k={ks[i]:g}, the searched k nearest the true L0, the curve is "
                   f"{above:.0%} above its minimum")
    return out


def figure(models, rates, fig_dir, stem):
    rows = [(m, m["widths"]["g"]) for m in models if "g" in m["widths"]]
    rules = sorted(rates.get("g", {}))
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for i, rule in enumerate(rules):
        t = [m["true_l0"] for m, _ in rows]
        e = [r["estimates"][rule]["l0"] for _, r in rows]
        a.scatter(t, e, s=14, color=f"C{i}", label=rule, alpha=0.8)
    hi = max([m["true_l0"] for m in models] + [1.0]) * 1.1
    a.plot([0, hi], [0, hi], "k--", lw=0.8, label="estimate = true L0")
    a.fill_between([0, hi], [-1, hi - 1], [1, hi + 1], color="0.9", zorder=0, label="±1")
    a.set_xlabel("true L0")
    a.set_ylabel("estimated L0")
    a.set_title("width = g", fontsize=10)
    a.legend(fontsize=7)
    x = np.arange(len(WIDTHS))
    for i, rule in enumerate(rules):
        vals = [rates.get(w, {}).get(rule, {}).get("within_1", np.nan) for w in WIDTHS]
        b.bar(x + (i - len(rules) / 2 + 0.5) * 0.8 / max(len(rules), 1), vals,
              width=0.8 / max(len(rules), 1), color=f"C{i}", label=rule)
    counts = [max((v["n"] for v in rates.get(w, {}).values()), default=0) for w in WIDTHS]
    b.set_xticks(x, [f"width {w}\n({n} of {len(models)} members)" if n else
                     f"width {w}\n(not run)" for w, n in zip(WIDTHS, counts, strict=True)])
    b.set_ylim(0, 1)
    b.set_ylabel("hit rate (within ±1 of the true L0)")
    b.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, fig_dir, stem)


def failures_of(models: list[dict]) -> list[dict]:
    return [{"index": m["index"], "width": w, "rule": rule, "true_l0": m["true_l0"],
             "estimate": r["estimates"][rule]["l0"],
             "reason": failure_reason(m, r, rule)}
            for m in models for w, r in m["widths"].items()
            for rule, e in r["estimates"].items() if not e["within_1"]]


def load_previous(path: Path, settings: dict) -> tuple[dict | None, dict]:
    """Finished member-widths of an earlier run with the same settings (to resume)."""
    if not path.exists():
        return None, {}
    old = json.loads(path.read_text())
    if old.get("settings") != json.loads(json.dumps(settings)):
        return None, {}
    return old.get("main_toy"), {m["index"]: m for m in old.get("models", [])}


def parse_widths(text: str) -> tuple[str, ...]:
    widths = tuple(w.strip() for w in text.split(",") if w.strip())
    bad = [w for w in widths if w not in WIDTHS]
    if not widths or bad:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a comma list from {','.join(WIDTHS)}")
    return widths


def parse_range(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split("-"))
    except ValueError:
        a = b = -1
    if not 0 <= a <= b:
        raise argparse.ArgumentTypeError(f"{text!r}: expected A-B with 0 <= A <= B")
    return a, b


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 1")
    return n


def add_options(parser: argparse.ArgumentParser) -> None:
    """This study's options, on top of :func:`common.parse_args`'s."""
    parser.add_argument("--n-models", type=positive_int,
                        help="members of the family to study (default 30; 3 with --quick)")
    parser.add_argument("--widths", type=parse_widths, default=WIDTHS,
                        help=f"comma list of SAE widths from {','.join(WIDTHS)} (default all)")
    parser.add_argument("--members", type=parse_range, default=None, metavar="A-B",
                        help="the range of member indices this process trains (default "
                             "all); processes with different ranges can share the output")


def main(argv=None) -> dict:
    import fcntl

    from common import parse_args

    args = parse_args(__doc__.splitlines()[0], argv, extend=add_options)
    setup = dict(QUICK if args.quick else FULL)
    if args.n_models is not None:
        setup["n_models"] = args.n_models
    widths = args.widths
    first, last = args.members or (0, setup["n_models"] - 1)
    if last >= setup["n_models"]:
        raise SystemExit(f"--members={first}-{last}; expected A-B with "
                         f"0 <= A <= B < {setup['n_models']} (the number of members)")
    mine = list(range(first, last + 1))
    stem = output_name("l0_generalisation", args.quick)
    path = Path(args.fig_dir) / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = settings_of(setup)
    main_toy, done = load_previous(path, settings)
    models = {i: done.get(i) or {**{k: v for k, v in describe(setup["spec"], i).items()
                                    if k != "probs"}, "widths": {}}
              for i in range(setup["n_models"])}
    for i in mine:  # rows written before this field existed get it here
        if "c_dec_true" not in models[i]:  # building a toy costs seconds: only when missing
            models[i]["c_dec_true"] = true_c_dec(setup["spec"], i)

    def write() -> dict:
        """Merges what other processes (a ``--widths`` or ``--members`` split) wrote
        meanwhile, then rewrites the JSON and the figure, under a lock."""
        nonlocal main_toy
        with open(path.with_name(f".{path.name}.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            disk_main, disk = load_previous(path, settings)
            main_toy = main_toy or disk_main
            for i, m in disk.items():
                if i in models:
                    if "c_dec_true" in m:
                        models[i].setdefault("c_dec_true", m["c_dec_true"])
                    for w, r in m["widths"].items():
                        if i in mine and w in widths:  # this process's own rows
                            models[i]["widths"].setdefault(w, r)
                        else:  # another process's: the disk has its latest version
                            models[i]["widths"][w] = r
            rows = [models[i] for i in sorted(models) if models[i]["widths"]]
            runs = [r for m in rows for r in m["widths"].values()]
            runs += [main_toy] if main_toy else []
            partial = main_toy is None or any(
                w not in models[i]["widths"] for i in models for w in WIDTHS)
            out = {"family": dataclasses.asdict(setup["spec"]), "settings": settings,
                   "main_toy": main_toy, "models": rows, "hit_rates": hit_rates(rows),
                   "failures": failures_of(rows), "partial": partial,
                   "trainings": sum(r["trainings"] for r in runs),
                   # every integer k from 1 to k_max for every seed, as a plain sweep
                   "trainings_full_sweep": sum(int(r["ks"][-1]) * len(setup["seeds"])
                                               for r in runs),
                   "compute_s": round(sum(r["wall_s"] for r in runs), 1)}
            if any("g" in m["widths"] for m in rows):
                out["figure"] = figure(rows, out["hit_rates"], args.fig_dir, stem)
            write_json(path, out)
        return out

    leads = "g" in widths and 0 in mine  # one process of a split runs the main toy
    if main_toy is not None and leads and refresh_s_n(
            main_toy, presets.get("paper-main"), "g", setup, args.out_dir):
        write()
    for w in widths:
        for i in mine:
            if w in models[i]["widths"] and refresh_s_n(
                    models[i]["widths"][w], draw_toy(setup["spec"], i), w, setup,
                    args.out_dir):
                print(f"[member {i}, width {w}: s_n^dec rule recomputed from the cache]",
                      flush=True)
                write()
    if main_toy is None and leads:
        toy = presets.get("paper-main")
        print(f"[paper-main: g={toy.n_features} d={toy.dim} true L0 {toy.true_l0:.2f}]",
              flush=True)
        main_toy = {"true_l0": toy.true_l0,
                    **study_one(toy, "g", setup, args.out_dir, not args.no_progress)}
        write()
    for w in widths:
        for i in mine:
            m = models[i]
            if w in m["widths"]:
                continue
            print(f"[member {i}: g={m['g']} d={m['d']} true L0 {m['true_l0']:.2f}; "
                  f"width {w}]", flush=True)
            m["widths"][w] = study_one(draw_toy(setup["spec"], i), w, setup, args.out_dir,
                                       not args.no_progress)
            write()
            release_compiled()  # each member's programs, before they exhaust the mappings
    out = write()
    print(json.dumps(out["hit_rates"], indent=1))
    return out


if __name__ == "__main__":
    main()
