"""Importing the experiment scripts (``experiments/*.py``) from the claim tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def import_experiment(name: str):
    """Imports and returns the module ``experiments/<name>.py`` (the scripts import each
    other by plain name, so their folder goes on ``sys.path``)."""
    if str(EXPERIMENTS) not in sys.path:
        sys.path.insert(0, str(EXPERIMENTS))
    return importlib.import_module(name)
