"""Parameter checks shared by every entry point (scikit-learn style messages)."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Literal, overload

from .errors import ParameterError


def check_int_range(value: Any, name: str, owner: str, low: int, high: int) -> int:
    """Return ``value`` as int if it is an integer in ``[low, high]``, else raise ParameterError."""
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= int(value) <= high:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be an int in the range "
            f"[{low}, {high}]. Got {value!r} instead."
        )
    return int(value)


@overload
def check_real_range(
    value: Any, name: str, owner: str, low: float, high: float, *, allow_none: Literal[False] = ...
) -> float: ...


@overload
def check_real_range(
    value: Any, name: str, owner: str, low: float, high: float, *, allow_none: bool
) -> float | None: ...


def check_real_range(
    value: Any, name: str, owner: str, low: float, high: float, *, allow_none: bool = False
) -> float | None:
    """Return ``value`` as float if it is a finite real in ``[low, high]``."""
    if value is None and allow_none:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(float(value))
        or not low <= float(value) <= high
    ):
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be a number in the range "
            f"[{low}, {high}]. Got {value!r} instead."
        )
    return float(value)


def check_choice(value: Any, name: str, owner: str, choices: tuple) -> Any:
    if value not in choices:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be one of {list(choices)}. "
            f"Got {value!r} instead."
        )
    return value
