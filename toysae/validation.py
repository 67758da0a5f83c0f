"""Input checks shared by configs, the API and the CLI.

Every check raises :class:`ValueError` naming the argument, the value and the accepted
range, before any compute starts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Checks that ``value`` is an integer in ``[lo, hi]`` and returns it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}={_show(value)} is not an integer; expected an integer"
                         + _range(lo, hi))
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name}={value} is out of range; expected an integer" + _range(lo, hi))
    return int(value)


def _range(lo, hi) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def check_float(
    name: str,
    value,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Checks that ``value`` is a finite real number in the given interval."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}={_show(value)} is not a number; expected a finite real number")
    v = float(value)
    accepted = _interval(lo, hi, lo_open, hi_open)
    if not math.isfinite(v):
        raise ValueError(f"{name}={v} is not finite; expected a finite number in {accepted}")
    bad_lo = lo is not None and (v <= lo if lo_open else v < lo)
    bad_hi = hi is not None and (v >= hi if hi_open else v > hi)
    if bad_lo or bad_hi:
        raise ValueError(f"{name}={v} is out of range; expected a number in {accepted}")
    return v


def _interval(lo, hi, lo_open, hi_open) -> str:
    left = "(" if lo_open or lo is None else "["
    right = ")" if hi_open or hi is None else "]"
    return f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"


def check_floats(name: str, values: Iterable, **bounds) -> tuple[float, ...]:
    """Checks every entry of ``values`` with :func:`check_float`; returns a tuple."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{name}={_show(values)} is not a list of numbers")
    return tuple(check_float(f"{name}[{i}]", v, **bounds) for i, v in enumerate(values))


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """Checks that ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name}={_show(value)} is not accepted; expected one of {choices}")
    return value


def check_correlation_matrix(name: str, matrix, n: int, atol: float = 1e-6) -> np.ndarray:
    """Checks a correlation matrix: shape ``[n, n]``, finite, symmetric, unit diagonal,
    entries in ``[-1, 1]``."""
    try:
        m = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} is not a numeric matrix: {err}") from None
    if m.shape != (n, n):
        raise ValueError(f"{name} has shape {m.shape}; expected ({n}, {n}) for n_features={n}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} has non-finite entries; expected finite numbers in [-1, 1]")
    if np.any(np.abs(m) > 1 + atol):
        i, j = np.argwhere(np.abs(m) > 1 + atol)[0]
        raise ValueError(f"{name}[{i}][{j}]={m[i, j]} is out of range; expected entries in [-1, 1]")
    if not np.allclose(m, m.T, atol=atol):
        i, j = np.argwhere(~np.isclose(m, m.T, atol=atol))[0]
        raise ValueError(
            f"{name} is not symmetric: [{i}][{j}]={m[i, j]} but [{j}][{i}]={m[j, i]}; "
            "expected a symmetric matrix"
        )
    if not np.allclose(np.diag(m), 1.0, atol=atol):
        i = int(np.argmax(np.abs(np.diag(m) - 1.0)))
        raise ValueError(f"{name}[{i}][{i}]={m[i, i]}; expected a unit diagonal")
    return m


def check_directions(name: str, rows, n: int, dim: int) -> tuple[tuple[float, ...], ...]:
    """Checks feature directions: shape ``[n, dim]``, finite, no zero row; returns them
    as a tuple of tuples of floats."""
    try:
        m = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} is not a numeric matrix: {err}") from None
    if m.shape != (n, dim):
        raise ValueError(f"{name} has shape {m.shape}; expected ({n}, {dim}) for "
                         f"n_features={n}, dim={dim}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name} has non-finite entries; expected finite numbers")
    norms = np.linalg.norm(m, axis=1)
    if np.any(norms == 0):
        raise ValueError(f"{name}[{int(np.argmin(norms))}] is a zero row; expected a "
                         "direction (any non-zero length)")
    return tuple(tuple(float(v) for v in row) for row in m)


SEED_RANGE = (-(2**63), 2**63 - 1)  # what jax.random.key accepts (int64)


def check_seed(name: str, value) -> int:
    """Checks that ``value`` is an integer seed JAX accepts (int64 range)."""
    return check_int(name, value, *SEED_RANGE)


MAGNITUDE_LIMIT = 1e15  # squares summed over a batch and d stay far inside float32


def check_float32(name: str, value, **bounds) -> float:
    """:func:`check_float`, and at most :data:`MAGNITUDE_LIMIT` in size: the generator and
    the SAEs compute in float32, whose largest value (3.4e38) the squared errors of
    larger magnitudes would pass."""
    v = check_float(name, value, **bounds)
    if abs(v) > MAGNITUDE_LIMIT:
        raise ValueError(f"{name}={v} is too large for float32 training (squared errors "
                         f"would overflow); expected |{name}| <= {MAGNITUDE_LIMIT:g}")
    return v


def check_list(name: str, value, length: int | None = None) -> list:
    """Checks that ``value`` is a JSON list (or tuple), optionally of ``length``."""
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
        raise ValueError(f"{name}={_show(value)} is not a list"
                         + (f"; expected a list of {length}" if length else ""))
    if length is not None and len(value) != length:
        raise ValueError(f"{name}={_show(value)} has {len(value)} entries; expected {length}")
    return list(value)


def check_bool(name: str, value) -> bool:
    """Checks that ``value`` is a JSON boolean (``True`` or ``False``)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}={_show(value)}; expected true or false")
    return value


def check_object(name: str, data: Any, required: Iterable[str] = (),
                 optional: Iterable[str] = (), *, expected: str = "an object",
                 rule: str | None = None) -> dict:
    """Checks that ``data`` is a JSON object (``dict``) with every ``required`` field and
    no field outside ``required`` and ``optional``; returns it.  The fields' values are
    the caller's to check (:func:`check_float` and the others, named ``name.field``).

    Args:
      name: the object's path in the JSON (``"magnitude.mean"``), named in every message.
      data: the value to check.
      required: the fields it must have.
      optional: the fields it may have.
      expected: what ``data`` should have been, for the message when it is no object.
      rule: what decides the fields when not the object alone (``"kind 'linear'"``),
        named in the messages in place of ``name``.

    Returns:
      ``data``.

    Raises:
      ValueError: not an object, an unknown field or a missing one.

    Examples:
      >>> check_object("magnitude", {"mean": 1.0, "std": 0.1}, required=("mean", "std"))
      {'mean': 1.0, 'std': 0.1}
      >>> check_object("magnitude", {"mean": 1.0}, required=("mean", "std"))
      Traceback (most recent call last):
      ...
      ValueError: magnitude.std is missing; magnitude takes mean, std
    """
    required, optional = list(required), list(optional)
    if not isinstance(data, dict):
        raise ValueError(f"{name}={_show(data)}; expected {expected}")
    fields = ", ".join(required)
    if optional:
        fields += (" and optionally " if required else "") + ", ".join(optional)
    takes = f"{rule or name} takes {fields or 'no fields'}"
    unknown = sorted(str(k) for k in data if k not in required and k not in optional)
    if unknown:
        raise ValueError(f"{name} has unknown field(s) {unknown}; {takes}")
    for key in required:
        if key not in data:
            raise ValueError(f"{name}.{key} is missing; {takes}")
    return data


def machine_memory() -> int:
    """Physical memory of this machine in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def refuse_if_over_memory(est: dict[str, int], message: str, **fields) -> None:
    """Refuses work whose memory estimate exceeds this machine's memory.

    Compares ``est["total"]`` with :func:`machine_memory`; when it is larger, raises
    :class:`ValueError` with ``message`` filled in (``str.format``) with the estimate.

    Args:
      est: bytes needed, by part, with their sum under ``"total"``.
      message: the refusal, a ``str.format`` template; its fields ``{need}`` (the
        total), ``{part}`` (the name of the largest part), ``{part_need}`` (that part's
        size) and ``{have}`` (this machine's memory) are filled in, sizes in GiB to one
        decimal.
      **fields: the template's other fields.

    Raises:
      ValueError: the estimate exceeds this machine's memory.

    Examples:
      >>> refuse_if_over_memory({"a": 1, "total": 1}, "needs {need} GiB")  # fits
      >>> refuse_if_over_memory({"a": 2**70, "b": 1, "total": 2**70 + 1},
      ...                       "{what} needs {need} GiB (mostly {part})", what="it")
      Traceback (most recent call last):
      ...
      ValueError: it needs 1099511627776.0 GiB (mostly a)
    """
    have = machine_memory()
    if est["total"] <= have:
        return
    part = max((k for k in est if k != "total"), key=est.__getitem__)
    raise ValueError(message.format(
        need=f"{est['total'] / 2**30:.1f}", part=part, part_need=f"{est[part] / 2**30:.1f}",
        have=f"{have / 2**30:.1f}", **fields))
