"""Every public name of ``toysae`` (``toysae/__init__.py``) has a docstring with a
runnable example; ``--doctest-modules`` (the default pytest options) runs them."""

import inspect

import toysae


def test_every_public_function_and_class_has_an_example():
    missing = []
    for name in dir(toysae):
        obj = getattr(toysae, name)
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if ">>>" not in (inspect.getdoc(obj) or ""):
            missing.append(name)
    assert not missing, f"public names without a doctest example: {missing}"
