"""Helpers to load small config dataclasses from YAML/dicts with clear errors.

Each module owns its dataclass (``TrainConfig`` in training, ``EvalConfig`` in
retrieval, ``GridConfig`` in grid); this module holds the shared loading and
validation so every bad field fails the same way: naming field, value and fix.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml

from xit.errors import XitConfigError

T = TypeVar("T")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML parameter file into a dict (an empty file is an error)."""
    path = Path(path)
    if not path.is_file():
        raise XitConfigError(f"parameter file {str(path)!r} not found; the shipped ones are in params/ (e.g. params/smoke.yaml)")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise XitConfigError(f"parameter file {str(path)!r} must hold a mapping of fields, got {type(data).__name__}")
    return data


def suggest(value: str, known: list[str]) -> str:
    """A 'did you mean' hint for a misspelt name."""
    close = difflib.get_close_matches(str(value), [str(k) for k in known], n=3)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


def from_dict(cls: type[T], data: dict[str, Any] | None, where: str) -> T:
    """Build a dataclass from a dict, refusing unknown fields with the list of known ones."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in data if k not in fields]
    if unknown:
        bad = unknown[0]
        raise XitConfigError(
            f"unknown field {bad!r} in {where}.{suggest(bad, list(fields))} Known fields: {', '.join(fields)}"
        )
    return cls(**data)  # type: ignore[call-arg]


def choice(value: Any, known: list[Any] | tuple[Any, ...], field: str) -> Any:
    """Return value if it is one of known, else raise naming the field and the options."""
    if value not in known:
        raise XitConfigError(f"{field}={value!r} is not valid.{suggest(value, list(known))} Choose one of: {', '.join(map(str, known))}")
    return value


def require_int(value: Any, field: str, minimum: int = 1, hint: str = "", maximum: int | None = None) -> int:
    """Return value if it is an int (not a bool) in [minimum, maximum], else raise naming the field, value and fix."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum or (maximum is not None and value > maximum):
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        kind += f" and <= {maximum}" if maximum is not None else ""
        raise XitConfigError(f"{field}={value!r} must be {kind}{hint}")
    return value


def require_number(value: Any, field: str, low: float, high: float | None = None, hint: str = "",
                   open_low: bool = False, open_high: bool = True) -> float:
    """Return value if it is a number in the given range (open or closed ends), else raise naming the fix."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value > low if open_low else value >= low)
    ok = ok and (high is None or (value < high if open_high else value <= high))
    if not ok:
        left, right = "(" if open_low else "[", ")" if open_high else "]"
        if high is not None:
            span = f"in {left}{low:g}, {high:g}{right}"
        else:
            span = "a positive number" if (open_low and low == 0) else (f"> {low:g}" if open_low else f">= {low:g}")
        raise XitConfigError(f"{field}={value!r} must be {span}{hint}")
    return value
