"""SAE architectures, one record each (:mod:`toysae.saes.base`), and their registry.

A new architecture is one file here (a frozen :class:`~toysae.saes.base.Arch`
subclass with a ``name``), one test file, and one registry line: its import below,
from which :data:`REGISTRY` is collected.

Examples:
  >>> names()
  ('batchtopk', 'jumprelu', 'matryoshka', 'relu_l1', 'topk')
  >>> get("topk").column, get("relu_l1").column_flag
  ('k', '--l1')
"""

from __future__ import annotations

from . import jumprelu as jumprelu
from . import relu_l1 as relu_l1
from .base import SAE as SAE
from .base import Arch as Arch

# The registry: one line per architecture.
from .batchtopk import BatchTopK as BatchTopK  # noqa: I001 (registry lines, kept together)
from .jumprelu import JumpReLU as JumpReLU
from .matryoshka import MatryoshkaBatchTopK as MatryoshkaBatchTopK
from .relu_l1 import ReLUL1 as ReLUL1
from .topk import TopK as TopK

REGISTRY: dict[str, type[Arch]] = {
    obj.name: obj for obj in list(globals().values())
    if isinstance(obj, type) and issubclass(obj, Arch) and obj.name
}
"""Architecture name -> record class, collected from the imports above."""


def names() -> tuple[str, ...]:
    """The registered architecture names, sorted."""
    return tuple(sorted(REGISTRY))


def get(name: str) -> type[Arch]:
    """The record class registered as ``name``.

    Raises:
      ValueError: naming ``arch`` and the accepted names.
    """
    if name not in REGISTRY:
        raise ValueError(f"arch={name!r} is not accepted; expected one of {list(names())}")
    return REGISTRY[name]


def build(sae) -> Arch:
    """The record of an :class:`~toysae.config.SAEConfig` (closed over its fields)."""
    return get(sae.arch).from_config(sae)
