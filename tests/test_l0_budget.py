"""experiments/l0_budget.py without training: it picks the choosing split's unrecovered
members from the protocol's results, draws the same toys, and refuses bad budgets."""

import argparse
import json
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
sys.path.insert(0, str(EXPERIMENTS))

import l0_budget as budget  # noqa: E402

from toysae.family import draw_toy  # noqa: E402


def _row(split, index, mcc, width_name="g", g=30, d=20):
    return {"split": split, "index": index, "width_name": width_name, "g": g, "d": d,
            "width": g, "true_l0": 4.0, "shape": "zipf", "corr_scale": 0.0,
            "mcc_at_true_k": {"k": 4.0, "mcc": mcc}}


def test_unrecovered_members_are_the_choosing_splits_below_the_cut():
    """Only `choose` rows at width g with seed-mean MCC below 0.9 are taken (never a
    split the rules are judged on), cheapest (g · d) first."""
    protocol = {"rows": [
        _row("choose", 0, 0.95), _row("choose", 1, 0.7, g=60, d=40),
        _row("choose", 2, 0.5, g=20, d=10), _row("choose", 3, 0.5, width_name="2g"),
        _row("fresh", 4, 0.1), _row("held_out", 5, 0.2)]}
    assert [r["index"] for r in budget.unrecovered_members(protocol)] == [2, 1]


def test_the_members_drawn_are_the_protocols():
    """The committed protocol results name each member's g and d; drawing the family
    the way the script does gives the same toys (the script also checks this)."""
    protocol = json.loads(budget.PROTOCOL.read_text())
    spec = budget.family_spec(protocol)
    for row in budget.unrecovered_members(protocol):
        toy = draw_toy(spec, row["index"])
        assert (toy.n_features, toy.dim) == (row["g"], row["d"])


@pytest.mark.parametrize("text", ["", "100", "2e6,abc"])
def test_bad_budgets_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="--budgets"):
        budget._budgets(text)


def test_budgets_parse_sorted_and_distinct():
    assert budget._budgets("8e6,2000000,2e6") == (2_000_000, 8_000_000)
