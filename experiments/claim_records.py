"""Claim records shared by the experiment scripts, and the table built from them.

Every experiment script writes its numbers to ``figures/<stem>.json`` with a ``"claims"``
list.  Each record is made by :func:`claim` and has the fields ``id``, ``claim`` (what the
paper says, in words), ``paper`` (the paper's value or statement), ``ours`` (what we
measured, as text with numbers), ``holds`` (a bool computed by code from the measured
numbers, never typed by hand) and ``detail`` (any further numbers).  :func:`collect`
gathers the records of every results file into ``figures/claims.json``, adds the
faithful rows older results files lack and every row's ``source`` and ``origin``
(``claim_sources.py``), and :func:`markdown_table` renders them for the docs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

#: The results files the reproduction writes, in the order of the README table.
RESULT_STEMS = ("main_toy", "schedules", "superposition", "jumprelu", "small_toy", "theorem1",
                "absorption")


def claim(id: str, claim: str, paper: str, ours: str, holds: bool, **detail) -> dict:
    """One claim record (see the module docstring for the fields)."""
    return {"id": id, "claim": claim, "paper": paper, "ours": ours, "holds": bool(holds),
            "detail": detail}


def fmt_pm(mean: float, std: float, digits: int = 3) -> str:
    """``"mean ± std"`` with ``digits`` decimals."""
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def collect(fig_dir: str | Path, stems: Iterable[str] = RESULT_STEMS,
            quick: bool = False) -> dict:
    """Reads ``fig_dir/<stem>[_quick].json`` for every stem and returns
    ``{"claims": [...], "missing": [...]}``: each file's records and the faithful rows
    derived from its numbers (:func:`claim_sources.derived`), ordered as in
    :data:`claim_sources.SOURCES` (a faithful row beside our stricter one), each with its
    ``source``, ``origin`` and ``results_file``."""
    from claim_sources import SOURCES, annotate, derived
    order = {cid: i for i, cid in enumerate(SOURCES)}
    out, missing = [], []
    for stem in stems:
        name = f"{stem}_quick.json" if quick else f"{stem}.json"
        path = Path(fig_dir) / name
        if not path.is_file():
            missing.append(name)
            continue
        results = json.loads(path.read_text())
        records = results.get("claims", [])
        if not isinstance(records, list):
            raise ValueError(f"{path}: 'claims' must be a list of claim records")
        records = sorted(records + derived(stem, results),
                         key=lambda r: order.get(r["id"], len(order)))
        for rec in records:
            out.append({**annotate(rec), "results_file": name})
    return {"claims": out, "missing": missing}


def markdown_table(claims: list[dict]) -> str:
    """The claim table: one row per claim with its origin (``paper``: a faithful test;
    ``literature``: another paper's; ``toysae``: our stricter rule), the source's sentence
    (in quotes where verbatim), the paper's value, ours, and the verdict."""
    lines = ["| id | origin | claim (and the rule that tests it) | source | paper | ours "
             "| holds |", "|---|---|---|---|---|---|---|"]
    for rec in claims:
        cells = [rec["id"], rec.get("origin", ""), rec["claim"], source_text(rec),
                 rec["paper"], rec["ours"], "yes" if rec["holds"] else "**no**"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ")
                                       for c in cells) + " |")
    return "\n".join(lines) + "\n"


def source_text(rec: dict) -> str:
    """The source cell: “the sentence” (where), or the described claim, marked so, where
    the sentence is not quoted verbatim."""
    src = rec.get("source")
    if not isinstance(src, dict):
        return ""
    text = f"“{src['text']}”" if src["verbatim"] else f"(described) {src['text']}"
    return f"{text} ({src['where']})"
