"""``toysae find-l0 --preset paper-main`` at its defaults, measured (issue 19).

Runs the command exactly as a user would (seeds 0, 1, 2; the paper's budget of 15M
samples per SAE, batch 1024, lr 3e-4; the default rule, matched cross-seed agreement,
:data:`toysae.l0.DEFAULT_RULE`) and records its answer, its confidence, every rule's
estimate, the k values it trained and how many trainings that took, against the
3 × 25 = 75 of a full integer sweep of k = 1..25 with the same seeds.

Beside it, ``full_sweep``: every rule applied to the paper's full sweep (k = 1..25, seeds
0-4, the run ``experiments/main_toy.py`` trains; loaded from the run cache, trained if
absent), with each rule's seed-mean curve: the data the default rule was chosen on.

Output: ``figures/find_l0_main.json`` (``*_quick`` with ``--quick``: 1M samples).
Usage: ``python experiments/find_l0_main.py [--quick]``
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
from common import cached_sweep, finish, output_name, parse_args
from main_toy import main_sweep_config

from toysae import presets
from toysae.cli import main as toysae_main
from toysae.l0 import LIVE_WINDOW, sweep_rules
from toysae.metrics import s_n_for_width

SEEDS = "0,1,2"
FULL_SWEEP_K = 25  # the paper's sweep: k = 1..25


def full_sweep(quick: bool, out_dir: str, progress: bool) -> dict:
    """Every rule on the main toy's k sweep (all seeds): estimate, spread, seed-mean
    curve."""
    res, info = cached_sweep(main_sweep_config(quick), out_dir, progress)
    cfg = res.config
    ks, seeds = list(cfg.ks), list(cfg.seeds)
    rec = {(r["seed"], r["k"]): r for r in res.records}
    w_dec, w_enc = (np.asarray(res.state.params[p]) for p in ("W_dec", "W_enc"))
    since = np.asarray(res.state.since_fired)
    weights = {(s, k): (w_dec[i, j], w_enc[i, j], since[i, j])
               for i, s in enumerate(seeds) for j, k in enumerate(ks)}

    skipped = {}
    rules = sweep_rules(ks, seeds, rec, weights, s_n_for_width(cfg.sae.width),
                        cfg.train.n_steps, skipped)
    return {"sweep": info, "ks": ks, "seeds": seeds, "live_window": LIVE_WINDOW,
            "rules_not_applied": skipped,
            "estimates": {e.rule: {"l0": e.l0, "spread": e.spread,
                                   "per_seed": list(e.per_seed), "curve": list(e.curve)}
                          for e in rules.values()}}


def main(argv=None) -> dict:
    args = parse_args(__doc__.splitlines()[0], argv)
    t0 = time.perf_counter()
    command = ["find-l0", "--preset", "paper-main", "--seeds", SEEDS, "--out", args.out_dir]
    if args.quick:
        command += ["--samples", "1000000"]
    if args.no_progress:
        command.append("--no-progress")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "find_l0.json"
        code = toysae_main([*command, "--json", str(path)])
        if code != 0:
            raise SystemExit(f"toysae {' '.join(command)} exited with {code}")
        res = json.loads(path.read_text())
    n_seeds = len(SEEDS.split(","))
    out = {"experiment": "toysae find-l0 --preset paper-main at its defaults (issue 19)",
           "command": "toysae " + " ".join(c for c in command if c != args.out_dir
                                            and c != "--out"),
           "true_l0": presets.get("paper-main").true_l0, "result": res,
           "sweep_trainings": len(res["ks"]) * n_seeds,  # the rest are online-tuner runs
           "full_sweep_trainings": FULL_SWEEP_K * n_seeds,
           "full_sweep": full_sweep(args.quick, args.out_dir, not args.no_progress)}
    return finish(out, args.fig_dir, output_name("find_l0_main", args.quick), t0)


if __name__ == "__main__":
    main()
