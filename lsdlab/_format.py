"""Printing numbers at the precision that means something (settings, thresholds)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["round_meaningful", "format_settings"]


def round_meaningful(value: Any, *, digits: int = 3) -> Any:
    """``value`` rounded for display; anything but a float is returned unchanged.

    A probability-like float in (0, 1) keeps ``digits`` significant digits of its distance to
    the nearer of 0 and 1, so thresholds near 1 keep their log-odds (0.22595035612704045 ->
    0.226, 0.999685 -> 0.999685, 0.98387912 -> 0.9839); other floats keep ``digits`` + 1
    significant digits (9.0 -> 9.0, 1234.5678 -> 1235.0).
    """
    if isinstance(value, bool) or not isinstance(value, float) or not math.isfinite(value) or value == 0.0:
        return value
    if 0.0 < value < 1.0:
        d = min(value, 1.0 - value)
        return round(value, max(0, digits - 1 - math.floor(math.log10(d))))
    return float(f"{value:.{digits + 1}g}")


def format_settings(settings: Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> str:
    """``key=value, ...`` with every value rounded by :func:`round_meaningful`."""
    return ", ".join(f"{k}={round_meaningful(v)}" for k, v in settings.items() if k not in skip)
