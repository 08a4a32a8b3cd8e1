"""One way to read a number from a data file: CSV columns, XML text, JSON values, arrays.

Every annotation or metadata reader turns the text (or value) of one field into a
number here, so that an empty field, ``NaN``, an infinity, text, a value out of its
range or a box whose corners are inverted is reported the same way everywhere: one
line naming the file, the record (row, line, object) and the field, e.g.

    boxes.csv: row 7: column 'XMin': NaN or infinite value ('nan')

and never as a traceback from deep inside a conversion (``int(nan)``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from numbers import Real

from .errors import AnnotationError, PyImageSearchError

#: Longest value quoted in a message (a field may hold a whole paragraph).
_QUOTE = 40


def quote(value: object) -> str:
    """``value`` as a short quoted text for a message (numbers as ``%g`` writes them)."""
    if isinstance(value, Real) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an integer of hundreds of digits stays
            value = f"{float(value):g}"
    text = repr(value) if isinstance(value, str) else repr(str(value))
    return text if len(text) <= _QUOTE else text[: _QUOTE - 4] + "...'"


def read_number(
    value: object,
    where: str,
    field: str,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
    error: type[PyImageSearchError] = AnnotationError,
    hint: str = "",
) -> float:
    """``value`` (text, or a number from JSON or an array) as a finite float.

    Refused with ``error("<where>: <field>: <problem>")`` when it is missing or empty,
    not a number (text, a boolean, a list), NaN or infinite, not whole when ``integer``,
    or outside ``low``..``high`` (inclusive; ``None`` leaves a side open; ``hint`` is
    added to that message, e.g. ``"pixels given?"``).
    """
    number = _finite(value, where, field, error)
    if integer and not number.is_integer():
        raise error(f"{where}: {field}: {quote(value)} is not a whole number")
    if (low is not None and number < low) or (high is not None and number > high):
        extra = f" ({hint})" if hint else ""
        raise error(f"{where}: {field}: {quote(value)} is outside {_range(low, high)}{extra}")
    return number


def _finite(value: object, where: str, field: str, error: type[PyImageSearchError]) -> float:
    """``value`` as a finite float, or ``error`` saying why not."""
    if value is None:
        raise error(f"{where}: {field}: missing (a number is needed)")
    if isinstance(value, (str, bytes)) and not value.strip():
        raise error(f"{where}: {field}: empty (a number is needed)")
    if isinstance(value, bool) or not isinstance(value, (str, bytes, Real)):
        kind = "true/false" if isinstance(value, bool) else type(value).__name__
        raise error(f"{where}: {field}: not a number ({kind} {quote(value)})")
    try:
        number = float(value.strip() if isinstance(value, (str, bytes)) else value)
    except (ValueError, TypeError):
        raise error(f"{where}: {field}: not a number ({quote(value)})") from None
    except OverflowError:  # a JSON integer with hundreds of digits
        raise error(f"{where}: {field}: {quote(value)} is too large") from None
    if not math.isfinite(number):
        raise error(f"{where}: {field}: NaN or infinite value ({quote(value)})")
    return number


def _range(low: float | None, high: float | None) -> str:
    if low is None:
        return f"the allowed range (at most {high:g})"
    if high is None:
        return f"the allowed range (at least {low:g})"
    return f"{low:g}..{high:g}"


def read_numbers(
    values: Mapping[str, object],
    where: str,
    low: float | None = None,
    high: float | None = None,
    error: type[PyImageSearchError] = AnnotationError,
    label: str = "{}",
    hint: str = "",
) -> dict[str, float]:
    """Every field of ``values`` read by :func:`read_number`; ``label`` formats each
    field's name in messages (``"column '{}'"``, ``"<{}>"``)."""
    return {
        name: read_number(value, where, label.format(name), low, high, error=error, hint=hint)
        for name, value in values.items()
    }


def check_ordered(
    lower: float,
    upper: float,
    where: str,
    names: tuple[str, str],
    error: type[PyImageSearchError] = AnnotationError,
) -> None:
    """Refuse a box side whose end ``upper`` lies before its start ``lower`` (inverted)."""
    if upper < lower:
        raise error(
            f"{where}: {names[1]} ({upper:g}) < {names[0]} ({lower:g}): the box is inverted"
        )


def read_box(
    values: Mapping[str, object],
    corners: tuple[str, str, str, str],
    where: str,
    low: float | None = None,
    high: float | None = None,
    error: type[PyImageSearchError] = AnnotationError,
    label: str = "{}",
) -> tuple[float, float, float, float]:
    """``(x1, y1, x2, y2)`` from the fields named ``corners`` (in that order) of
    ``values``: each read by :func:`read_number`, and the box refused when inverted."""
    c = read_numbers({n: values.get(n) for n in corners}, where, low, high, error, label)
    x1, y1, x2, y2 = (c[n] for n in corners)
    names = [label.format(n) for n in corners]
    check_ordered(x1, x2, where, (names[0], names[2]), error)
    check_ordered(y1, y2, where, (names[1], names[3]), error)
    return x1, y1, x2, y2


#: Pixel coordinates beyond this (in either direction) are refused: no image this
#: toolkit reads has a side that long, and larger values overflow later arithmetic.
MAX_PIXEL_COORDINATE = 1e7
