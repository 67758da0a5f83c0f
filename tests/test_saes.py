"""Contract of every registered architecture (toysae.saes), and the engine's shape.

Each record, whatever its family: its config round-trips through JSON with a stable
digest; a model trained inside a sweep equals the same model trained alone; the store
writes and reloads it exactly; a jitted step equals the eager one.  A new architecture
gets these tests by its registry line.  The engine: no import circle in ``toysae/``
(function-level imports included), and no branch on an architecture's name outside
``toysae/saes/``.
"""

import ast
import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toysae import SAEConfig, SweepConfig, TrainConfig, load_run, presets, run_sweep, saes
from toysae.sweep import init_sweep_state, step_options

PACKAGE = Path(__file__).resolve().parent.parent / "toysae"
SMALL = presets.get("paper-small-pos")
COLUMNS = {"k": (1.5, 2.0), "lambda": (0.1, 1.0)}


def cfg_for(name, seeds=(0, 1), columns=None, steps=40):
    arch = saes.get(name)
    cols = columns or COLUMNS[arch.column]
    key = "ks" if arch.column == "k" else "lambdas"
    return SweepConfig(
        toy=SMALL,
        sae=SAEConfig(width=5, arch=name, warmup_steps=10, dead_steps=3),
        train=TrainConfig(samples=64 * steps, batch_size=64, n_eval=512, chunk_steps=20),
        seeds=seeds, **{key: cols})


@pytest.mark.parametrize("name", saes.names())
def test_config_round_trip_keeps_only_the_architectures_fields(name):
    """SAEConfig's JSON form holds exactly the record's config_fields and rebuilds the
    same config and digest."""
    cfg = cfg_for(name)
    data = cfg.sae.to_dict()
    assert set(data) == set(saes.get(name).config_fields)
    again = SweepConfig.from_dict(cfg.to_dict())
    assert again.to_dict() == cfg.to_dict() and again.digest() == cfg.digest()
    assert saes.build(again.sae) == saes.build(cfg.sae)


@pytest.mark.parametrize("name", saes.names())
def test_sweep_equals_alone_and_store_round_trip(name, tmp_path):
    """A model trained in a 2-seed × 2-column stack equals it trained alone (to 1e-5:
    the same batches and init, vmapped), and the stored run reloads the same records,
    parameters and records' ``arch``."""
    cfg = cfg_for(name)
    res = run_sweep(cfg, str(tmp_path), progress=False)
    col = cfg.columns[1]
    alone = run_sweep(dataclasses.replace(cfg, seeds=(1,), **{
        "ks" if cfg.column_name == "k" else "lambdas": (col,)}), progress=False)
    for a, b in zip(jax.tree.leaves(res.params(1, col)), jax.tree.leaves(alone.params(1, col)),
                    strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
    loaded = load_run(res.run_dir)
    assert loaded.records == res.records
    assert {r["arch"] for r in loaded.records} == {name}
    for a, b in zip(jax.tree.leaves(loaded.state), jax.tree.leaves(res.state), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x = jnp.ones((4, SMALL.dim))
    assert loaded.sae(0, col)(x).shape == (4, SMALL.dim)


@pytest.mark.parametrize("name", saes.names())
def test_jit_step_equals_eager_step(name):
    """One training step of one model, jitted and eager, agree to 1e-5."""
    cfg = cfg_for(name, seeds=(0,))
    opts = step_options(cfg)
    from toysae.generator import build_toy

    toy = build_toy(cfg.toy)
    state = jax.tree.map(lambda a: a[0, 0], init_sweep_state(cfg, toy))
    x = toy.sample(jax.random.key(3), 64)[1]
    col = jnp.float32(cfg.columns[0])
    eager = opts.arch.train_step(state, x, col, opts)
    jitted = jax.jit(opts.arch.train_step, static_argnames="opts")(state, x, col, opts=opts)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)


def _modules() -> dict[str, Path]:
    """``{dotted name: file}`` of every module and package of toysae."""
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _imports(path: Path, mods: dict[str, Path]) -> set[str]:
    """Modules of toysae that ``path`` imports anywhere (function bodies included):
    ``from X import y`` counts as importing ``X.y`` where that is a module, else ``X``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = parts[:-1]  # the package a relative import starts from
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = (list(package[: len(package) - node.level + 1]) if node.level else [])
            mod = ".".join(base + (node.module.split(".") if node.module else []))
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                out.add(sub if sub in mods else mod)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in mods}


def test_no_import_circle_in_the_package():
    """No module of toysae imports, even inside a function, a module that imports it
    back, directly or through others (packages' ``__init__`` files included)."""
    mods = _modules()
    graph = {name: _imports(path, mods) - {name} for name, path in mods.items()}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import circle: " + " -> ".join(path + [m, d]))
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_no_architecture_name_branch_outside_saes():
    """Outside toysae/saes/, no comparison (``==``, ``!=``, ``in``) involves an
    architecture's name: the engine asks the record, never which record it holds."""
    names = set(saes.names())
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "saes" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                consts = [n for n in ast.walk(node) if isinstance(n, ast.Constant)]
                if any(isinstance(c.value, str) and c.value in names for c in consts):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


def test_unknown_architecture_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match=r"arch='nope'.*batchtopk"):
        SAEConfig(width=5, arch="nope")
