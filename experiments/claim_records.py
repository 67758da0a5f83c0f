"""Claim records shared by the experiment scripts, and the table built from them.

Every experiment script writes its numbers to ``figures/<stem>.json`` with a ``"claims"``
list.  Each record is made by :func:`claim` and has the fields ``id``, ``claim`` (what the
paper says, in words), ``paper`` (the paper's value or statement), ``ours`` (what we
measured, as text with numbers), ``holds`` (a bool computed by code from the measured
numbers, never typed by hand) and ``detail`` (any further numbers).  :func:`collect`
gathers the records of every results file into ``figures/claims.json`` and
:func:`markdown_table` renders them for the README.
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
    ``{"claims": [...], "missing": [...]}`` (claims in file order; each record gains a
    ``source`` field naming its results file)."""
    out, missing = [], []
    for stem in stems:
        name = f"{stem}_quick.json" if quick else f"{stem}.json"
        path = Path(fig_dir) / name
        if not path.is_file():
            missing.append(name)
            continue
        records = json.loads(path.read_text()).get("claims", [])
        if not isinstance(records, list):
            raise ValueError(f"{path}: 'claims' must be a list of claim records")
        for rec in records:
            out.append({**rec, "source": name})
    return {"claims": out, "missing": missing}


def markdown_table(claims: list[dict]) -> str:
    """The claim table: one row per claim, the paper's value, ours, and the verdict."""
    lines = ["| id | claim | paper | ours | holds |", "|---|---|---|---|---|"]
    for rec in claims:
        cells = [rec["id"], rec["claim"], rec["paper"], rec["ours"],
                 "yes" if rec["holds"] else "**no**"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ")
                                       for c in cells) + " |")
    return "\n".join(lines) + "\n"
