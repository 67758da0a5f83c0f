"""Markdown tables summarising a ``results.json`` of ``benchmarks/run_all.py``."""

from __future__ import annotations

from quiet import describe


def _num(x, digits: int = 0) -> str:
    if x is None:
        return "–"
    if isinstance(x, str):
        return x
    return f"{x:,.{digits}f}"


def _compile(e: dict) -> str:
    if "compile_s" not in e:
        return "–"
    return "cached" if e["compile_s"] is None else f"{e['compile_s']:.1f}"


def _mib(b) -> str:
    return "–" if b is None else f"{b / 2**20:,.0f} MiB"


def _frac(gflops, peak) -> str:
    if gflops is None or not peak:
        return "–"
    return f"{gflops / peak:.1%}"


def _mem(entry: dict) -> str:
    mem = entry.get("memory") or {}
    if mem.get("scope") != "subprocess":
        return "–"  # measured over the whole run, not this configuration alone
    text = _mib(mem.get("peak_rss_bytes"))
    if mem.get("device_peak_bytes") is not None:
        text += f" (device {_mib(mem['device_peak_bytes'])})"
    return text


def machine_line(res: dict) -> str:
    m = res.get("machine", {})
    mem = m.get("memory_bytes")
    parts = [f"**{res.get('device_label', '?')}**",
             f"{m.get('cpu_model', '?')}, {m.get('usable_cores', '?')} cores"
             + (f", {mem / 2**30:.0f} GiB RAM" if mem else ""),
             f"jax {m.get('jax', '?')} ({m.get('backend', '?')})",
             f"{m.get('date', '?')}"]
    load = m.get("load_average_at_start")
    if load:
        parts.append(f"load average at start {load[0]:.1f}")
    monitored = res.get("load") or {}
    if monitored.get("total"):
        parts.append(describe(monitored["total"]))
        busy = [name for name, v in monitored.items()
                if name != "total" and v.get("quiet") is False]
        if busy:
            parts.append("**taken under load: " + ", ".join(busy) + "**")
    if m.get("git_commit"):
        parts.append(f"commit {m['git_commit']}")
    if res.get("quick"):
        parts.append("**quick mode: tiny sizes, not a measurement**")
    return "Machine: " + "; ".join(parts) + "."


def markdown(res: dict) -> str:
    """The README-ready summary: machine, then one table of training throughput, one of
    scaling with size, one of generator throughput."""
    base = res.get("baselines") or {}
    peak = (base.get("matmul") or {}).get("gflops")
    out = [machine_line(res), ""]
    if peak:
        after = (base.get("matmul_after") or {}).get("gflops")
        n = base["matmul"].get("n", 1024)
        out.append(f"f32 matmul peak ({n}³, median): {peak:,.1f} GFLOP/s"
                   + (f" before, {after:,.1f} after the run" if after else "")
                   + ". FLOP counted as 6·B·d·h per model-step.")
        out.append("")
    rows = []
    single = res.get("single")
    if single:
        rows.append(("Single SAE, `train_sweep` end to end", 1, single))
    for s in res.get("sweep") or []:
        where = (f", sharded over {s['devices']} devices" if s.get("devices", 1) > 1 else "")
        rows.append((f"Sweep of {s['models']}, one compiled program{where}", s["models"], s))
    one = base.get("one_at_a_time")
    if one:
        rows.append((f"One at a time ({one['models']} separate runs)", one["models"], one))
    lens = base.get("saelens")
    if rows or lens is not None or "saelens_reason" in base:
        out += ["| Training on the main toy (d=100, h=50, B=1024) | models | model-samples/s "
                "| GFLOP/s | of peak | compile s | peak RSS |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for name, m, e in rows:
            out.append(f"| {name} | {m} | {_num(e.get('samples_s'))} | "
                       f"{_num(e.get('gflops'), 1)} | {_frac(e.get('gflops'), peak)} | "
                       f"{_compile(e)} | {_mem(e)} |")
        if lens is not None:
            g = lens["samples_s"] * 6 * 100 * 50 / 1e9
            out.append(f"| SAELens {lens.get('version') or ''} BatchTopK ({lens['device']}) | 1 | "
                       f"{_num(lens['samples_s'])} | {_num(g, 1)} | {_frac(g, peak)} | – | – |")
        elif "saelens_reason" in base:
            why = base["saelens_reason"] or ""
            why = ("not installed (`pip install -e '.[compare]'`)" if "skipped" in why
                   else why.replace("|", "/"))
            out.append(f"| SAELens BatchTopK | 1 | not run: {why} | | | | |")
        out.append("")
        ratios = base.get("ratios") or {}
        if ratios:
            out.append("Ratios: " + "; ".join(f"{k.replace('_', ' ')} {v:.2f}×"
                                               for k, v in ratios.items()) + ".")
            out.append("")
    scaling = res.get("scaling") or []
    if scaling:
        out += ["| Scaling: single SAE (g, d, h) | features | samples/s | GFLOP/s | of peak "
                "| compile s | peak RSS |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for e in scaling:
            if "error" in e:
                out.append(f"| ({e['g']}, {e['d']}, {e['width']}) | | failed: {e['error']} "
                           "| | | | |")
                continue
            t = e["toy"]
            out.append(f"| ({t['n_features']}, {t['dim']}, {e['width']}) | {t['features']}, "
                       f"corr. {t['correlation']} | {_num(e['samples_s'])} | "
                       f"{_num(e['gflops'], 1)} | {_frac(e['gflops'], peak)} | "
                       f"{_compile(e)} | {_mem(e)} |")
        out.append("")
    gen = res.get("generator") or {}
    if gen:
        out += ["| Generator alone (`ToyModel.sample`, jit) | g | d | copula | samples/s "
                "| build s |", "|---|---:|---:|---|---:|---:|"]
        for name, e in gen.items():
            if not isinstance(e, dict) or "samples_s" not in e:
                continue
            t = e["toy"]
            build = (e.get("build") or {}).get("total_s", t.get("build_s"))
            out.append(f"| {name} | {t['n_features']} | {t['dim']} | {t['correlation']} | "
                       f"{_num(e['samples_s'])} | {_num(build, 2)} |")
        for e in gen.values():
            b = e.get("build") if isinstance(e, dict) else None
            if b and b.get("kind") == "paper":
                out += ["", f"Copula build at g = {b['n_features']} (the paper's recipe): raw "
                        f"matrix {b['raw_s']:.2f} s, eigenvalue repair {b['repair_s']:.2f} s, "
                        f"Cholesky {b['cholesky_s']:.2f} s (total {b['total_s']:.2f} s)."]
        note = gen.get("copula_note")
        if note:
            out += ["", note]
        out.append("")
    return "\n".join(out).rstrip() + "\n"
