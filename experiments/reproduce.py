"""Regenerates every toy-model figure and number of "Sparse but Wrong" and the claim
table: the job behind ``toysae reproduce``.

Runs each experiment script in its own process, in order (cheap ones first), then
gathers the claim records of their results files into ``figures/claims.json`` and, at
the paper's budget, rewrites the claim table of ``docs/reproduction.md`` and its summary
on the front page (``README.md``) between their markers (``experiments/reports.py``).
Trained SAEs are cached under ``--out-dir`` by config digest and checkpointed while
they train, so an interrupted reproduction resumes where it stopped, and a rerun only
re-plots.  ``--quick`` runs every script at its reduced budget (outputs ``*_quick``;
the docs are left alone).

Usage: ``python experiments/reproduce.py [--quick] [--only main_toy,jumprelu]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import reports
from claim_records import RESULT_STEMS, collect, markdown_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from quiet import LoadMonitor  # noqa: E402

from toysae.store import atomic_write

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: Scripts in the order they run (cheapest first); each writes figures/<name>.json.
SCRIPTS = ("theorem1", "small_toy", "jumprelu", "schedules", "main_toy", "superposition",
           "absorption")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="toysae reproduce", description=(
        "Run every experiment script (paper budget by default), then rebuild "
        "figures/claims.json and the claim tables of the docs. Cached and resumable."))
    p.add_argument("--quick", action="store_true",
                   help="reduced budgets (minutes); outputs *_quick, docs untouched")
    p.add_argument("--only", default=None,
                   help=f"comma-separated subset of {','.join(SCRIPTS)}")
    p.add_argument("--out-dir", default=str(REPO / "runs"),
                   help="cache of trained sweeps (default runs/ in the repository)")
    p.add_argument("--fig-dir", default=str(REPO / "figures"),
                   help="figures and results files (default figures/)")
    p.add_argument("--table-only", action="store_true",
                   help="skip the scripts; rebuild claims.json and the table from results")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--devices", type=int, default=None,
                   help="shard each sweep's models over N devices (on a CPU the cores are "
                        "split into N devices; 2 is fastest on 2 cores)")
    args = p.parse_args(argv)
    if args.devices is not None and args.devices < 1:
        p.error(f"--devices={args.devices} is out of range; expected an integer >= 1")
    if args.only is not None:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        bad = sorted(set(names) - set(SCRIPTS))
        if bad or not names:
            p.error(f"--only={args.only!r}: unknown {bad}; expected names from {SCRIPTS}")
        args.only = tuple(n for n in SCRIPTS if n in names)
    return args


def run_script(name: str, args: argparse.Namespace) -> float:
    """Runs ``experiments/<name>.py``; returns its wall time in seconds."""
    cmd = [sys.executable, str(HERE / f"{name}.py"), "--out-dir", args.out_dir,
           "--fig-dir", args.fig_dir]
    if args.quick:
        cmd.append("--quick")
    if args.no_progress:
        cmd.append("--no-progress")
    if args.devices is not None:
        cmd += ["--devices", str(args.devices)]
    print(f"=== {name} ({'quick' if args.quick else 'paper budget'}) ===", flush=True)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run(cmd, cwd=HERE, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"experiments/{name}.py failed with exit code {proc.returncode}; "
                         "finished sweeps are kept in the cache, rerun to resume")
    return time.perf_counter() - t0


def training_time(fig_dir: str | Path, quick: bool) -> dict:
    """Training wall time of every cached sweep the results files name (deduplicated by
    digest), as recorded with each run (summed over resumed sessions).

    Returns:
      ``{"train_s": total over sweeps with a record, "sweeps": how many have one,
      "unrecorded": [digests without a record]}``.
    """
    seen: dict[str, float | None] = {}

    def walk(node):
        if isinstance(node, dict):
            if "digest" in node and "train_s" in node:
                t = node["train_s"]
                seen[node["digest"]] = seen.get(node["digest"]) or t
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for stem in RESULT_STEMS:
        path = Path(fig_dir) / f"{stem}{'_quick' if quick else ''}.json"
        if path.is_file():
            walk(json.loads(path.read_text()))
    known = {d: t for d, t in seen.items() if t is not None}
    return {"train_s": round(sum(known.values()), 1), "sweeps": len(known),
            "unrecorded": sorted(d for d, t in seen.items() if t is None)}


def build_table(args: argparse.Namespace, walls: dict[str, float],
                record: dict | None = None) -> dict:
    """Writes ``claims[_quick].json`` from the results files.  ``record``
    (:func:`run_record`) describes the run that just finished; the last full reproduction
    (all scripts) from an empty cache is kept as ``"reproduction"`` until another
    replaces it, so a table rebuild never loses the measured wall time."""
    data = collect(args.fig_dir, RESULT_STEMS, quick=args.quick)
    data["quick"] = args.quick
    data["wall_s"] = {k: round(v, 1) for k, v in walls.items()}
    data["training"] = training_time(args.fig_dir, args.quick)
    name = "claims_quick.json" if args.quick else "claims.json"
    path = Path(args.fig_dir) / name
    try:
        previous = json.loads(path.read_text()).get("reproduction")
    except (OSError, ValueError):
        previous = None
    full = record is not None and record["from_empty_cache"] and not record["only"]
    data["reproduction"] = record if full else previous
    data["last_run"] = record
    atomic_write(path, json.dumps(data, indent=1) + "\n")
    print(f"wrote {path}: {len(data['claims'])} claims, "
          f"{sum(not c['holds'] for c in data['claims'])} do not hold"
          + (f"; missing results: {data['missing']}" if data["missing"] else ""))
    tr = data["training"]
    print(f"training time recorded with the cached sweeps: {tr['train_s'] / 3600:.2f} h over "
          f"{tr['sweeps']} sweep(s)" + (f"; not recorded for {len(tr['unrecorded'])} "
                                        f"(trained before timing.json existed)"
                                        if tr["unrecorded"] else ""))
    table = markdown_table(data["claims"])
    print(table)
    if not args.quick:
        reports.write_for(path)  # only when path is the committed figures/claims.json
    return data


def cache_is_empty(out_dir: str | Path) -> bool:
    """Whether ``out_dir`` holds no run this code would load (nothing, or only runs of
    older numerics): a reproduction started then trains everything it needs."""
    from toysae.store import is_current
    root = Path(out_dir)
    return not root.is_dir() or not any(is_current(d) for d in root.iterdir() if d.is_dir())


def run_record(args: argparse.Namespace, empty: bool, t0: float, load0: tuple,
               started: str) -> dict:
    """How the reproduction ran: the end-to-end wall time, whether the cache was empty at
    the start, the machine's load average (1/5/15 min) at start and end, its cores and
    the code (:func:`toysae.store.provenance`)."""
    from toysae.store import provenance
    return {"total_s": round(time.perf_counter() - t0, 1), "from_empty_cache": empty,
            "only": list(args.only) if args.only else None, "devices": args.devices,
            "started": started,
            "load_start": [round(v, 2) for v in load0],
            "load_end": [round(v, 2) for v in os.getloadavg()], "cores": os.cpu_count(),
            "code": provenance()}


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    walls = {}
    record = None
    if not args.table_only:
        empty, load0 = cache_is_empty(args.out_dir), os.getloadavg()
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        t0 = time.perf_counter()
        with LoadMonitor() as mon:  # what other processes took meanwhile
            for name in args.only or SCRIPTS:
                walls[name] = run_script(name, args)
        walls["total"] = time.perf_counter() - t0
        print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()))
        record = {**run_record(args, empty, t0, load0, started), "load": mon.result()}
    return build_table(args, walls, record)


if __name__ == "__main__":
    main()
