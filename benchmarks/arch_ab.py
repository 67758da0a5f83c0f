"""Same-run A/B of the sweep's chunk program: this checkout against a baseline commit,
and every architecture's 25-model rate beside BatchTopK's (issue 16: no speed loss
from the architecture records).

For ``--rounds`` rounds, alternating (the baseline first in even rounds, this checkout
first in odd ones, so neither side always runs on a machine just warmed by the other), a
fresh process runs the ``chunk`` job of
``suite_jobs.py`` (25 stacked models on the main toy, batch 1024, ``--length`` steps per
chunk, the median of ``--repeats`` chunks after a warm-up chunk) once with the
baseline's ``toysae`` (a ``git worktree`` of ``--baseline`` on ``PYTHONPATH``) and once
with this checkout's.  Reported: the median over rounds of each side's model-samples/s,
their ratio, and the median of the rounds' paired ratios; for every run, the CPU share
other processes took during it (``/proc/stat`` busy time less the run's own CPU time,
over wall time × cores) and the load average before it.  A run during which others took
more than ``--max-share`` of the machine is marked ``under_load``, and the summary says
whether any was.  Then each architecture's 25-model chunk rate, the same way
(``--arch-rounds`` rounds).

Usage: ``python benchmarks/arch_ab.py [--baseline a82d8e9] [--rounds 6]
[--out benchmarks/arch_ab.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from suite_common import REPO, atomic_write_json, git_commit

JOBS = Path(__file__).resolve().parent / "suite_jobs.py"


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (``/proc/stat``)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_chunk_job(pythonpath: str, spec: dict, max_share: float) -> dict:
    load0 = os.getloadavg()[0]
    busy0, own0, t0 = busy_seconds(), children_cpu(), time.monotonic()
    env = {**os.environ, "PYTHONPATH": pythonpath}
    proc = subprocess.run([sys.executable, str(JOBS), json.dumps(spec)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=1800)
    wall = time.monotonic() - t0
    others = max(0.0, busy_seconds() - busy0 - (children_cpu() - own0))
    share = others / (wall * (os.cpu_count() or 1))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(proc.stderr[-2000:])
    out = json.loads(lines[-1][len("RESULT "):])
    return {"samples_s": out["samples_s"], "median_chunk_s": out["median_chunk_s"],
            "load_before": round(load0, 2), "others_cpu_share": round(share, 3),
            "under_load": share > max_share}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default="a82d8e9", help="commit to compare against")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--arch-rounds", type=int, default=3)
    p.add_argument("--length", type=int, default=40, help="steps per timed chunk")
    p.add_argument("--repeats", type=int, default=5, help="timed chunks per run")
    p.add_argument("--max-share", type=float, default=0.1,
                   help="CPU share of other processes above which a run is under load")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "arch_ab.json"))
    args = p.parse_args(argv)
    spec = {"job": "chunk", "models": 25, "length": args.length, "repeats": args.repeats,
            "warmup": 1}
    out = {"benchmark": "A/B of the chunk program, 25 models (issue 16)",
           "code_revision": git_commit(), "baseline": args.baseline, "spec": spec,
           "max_share": args.max_share, "rounds": []}
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.baseline],
                       cwd=REPO, check=True, capture_output=True)
        try:
            for r in range(args.rounds):
                row = {}
                sides = [("baseline", str(tree)), ("current", str(REPO))]
                for side, path in sides if r % 2 == 0 else sides[::-1]:
                    row[side] = run_chunk_job(path, spec, args.max_share)
                    print(f"round {r} {side}: {row[side]['samples_s']:,.0f} model-samples/s "
                          f"(others' CPU share {row[side]['others_cpu_share']:.1%})", flush=True)
                out["rounds"].append(row)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO,
                           capture_output=True)
    base = float(np.median([r["baseline"]["samples_s"] for r in out["rounds"]]))
    cur = float(np.median([r["current"]["samples_s"] for r in out["rounds"]]))
    out["median_samples_s"] = {"baseline": base, "current": cur}
    out["ratio_current_over_baseline"] = cur / base
    # Paired: each round's two runs are neighbours in time, so their ratio cancels slow
    # drifts of the machine that the two medians do not.
    out["median_paired_ratio"] = float(np.median([r["current"]["samples_s"]
                                                  / r["baseline"]["samples_s"]
                                                  for r in out["rounds"]]))
    out["within_5_percent"] = min(cur / base, out["median_paired_ratio"]) >= 0.95
    out["archs"] = {}
    from toysae import saes

    for name in saes.names():
        runs = [run_chunk_job(str(REPO), {**spec, "arch": name}, args.max_share)
                for _ in range(args.arch_rounds)]
        out["archs"][name] = {"median_samples_s": float(np.median([x["samples_s"]
                                                                   for x in runs])),
                              "runs": runs}
        print(f"{name}: {out['archs'][name]['median_samples_s']:,.0f} model-samples/s",
              flush=True)
    runs = [x for r in out["rounds"] for x in r.values()]
    runs += [x for a in out["archs"].values() for x in a["runs"]]
    out["any_under_load"] = any(x["under_load"] for x in runs)
    print(f"current / baseline = {out['ratio_current_over_baseline']:.3f} (medians of "
          f"{args.rounds} rounds), median paired ratio {out['median_paired_ratio']:.3f}; "
          f"any run under load: {out['any_under_load']}")
    atomic_write_json(args.out, out)
    return out


if __name__ == "__main__":
    main()
