"""The documentation is true: every public name of ``toysae`` (``toysae/__init__.py``) has
a docstring with a runnable example (``--doctest-modules``, the default pytest options,
runs them) and a place in the API reference; every toy-JSON example of the docs loads and
samples; every generated report block equals what its committed results file renders; the
README's links resolve; and the MkDocs site builds in strict mode (issue 18)."""

import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import toysae

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))

import reports  # noqa: E402


def test_every_public_function_and_class_has_an_example():
    missing = []
    for name in dir(toysae):
        obj = getattr(toysae, name)
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if ">>>" not in (inspect.getdoc(obj) or ""):
            missing.append(name)
    assert not missing, f"public names without a doctest example: {missing}"


def test_readme_toy_json_examples_load_build_and_sample():
    """Every ```json block of the toy-JSON page is a valid toy: it loads with
    ToyConfig.from_dict, builds, and draws finite inputs (issue 17: the documented example
    is checked by a test)."""
    import json

    import jax
    import numpy as np

    from toysae import ToyConfig, build_toy

    text = (REPO / "docs" / "toy-json.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        cfg = ToyConfig.from_dict(json.loads(block))
        toy = build_toy(cfg)
        coeffs, x, most = toy.draw(jax.random.key(0), 256)
        assert np.isfinite(np.asarray(x)).all()
        assert cfg.max_active is None or int(most) <= cfg.max_active


def test_every_public_name_is_in_the_api_reference():
    text = (REPO / "docs" / "reference.md").read_text()
    listed = set(re.findall(r"^::: toysae\.(\w+)$", text, flags=re.M))
    public = {n for n in dir(toysae)
              if not n.startswith("_") and not inspect.ismodule(getattr(toysae, n))}
    assert public - listed == set(), "public names missing from docs/reference.md"
    assert listed - public == set(), "docs/reference.md lists names toysae does not export"


def test_generated_report_blocks_match_their_results_files():
    """No measured table in README.md or docs/ drifts from the committed file it was
    rendered from (rerun ``python experiments/reports.py`` after changing either)."""
    assert reports.check() == {}


def test_report_block_is_replaced_between_its_markers_only():
    start = "<!-- report:x (generated from old.json by experiments/reports.py) -->"
    text = f"intro\n{start}\nold table\n<!-- /report:x -->\nafter\n"
    new = reports.replace_block(text, "x", "new.json", "| new |")
    assert new == ("intro\n<!-- report:x (generated from new.json by experiments/reports.py)"
                   " -->\n| new |\n<!-- /report:x -->\nafter\n")
    assert reports.read_block(new, "x") == "| new |\n"
    assert reports.replace_block("no markers\n", "x", "a.json", "| new |") is None
    assert reports.replace_block(f"{start}\nunterminated\n", "x", "a.json", "y") is None


def test_readme_links_resolve():
    text = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert local, "the README links to no docs page"
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_readme_is_a_front_page():
    """Issue 18: README.md is the front page, at most about 250 lines, and the two set-up
    commands are the first code a newcomer sees."""
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    first = re.findall(r"```bash\n(.*?)```", text, flags=re.S)[:2]
    assert "pip install -e . && .venv/bin/toysae reproduce --quick" in first[0]
    assert "pip install -e '.[dev]' && .venv/bin/pytest" in first[1]


def test_docs_site_builds_in_strict_mode(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]' installs it)")
    run = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "index.html").is_file()
