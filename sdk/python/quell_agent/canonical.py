"""RFC 8785 (JCS) canonical JSON, the text quell's audit-chain hash covers.

See docs/audit-chain.md: members sorted by UTF-16 code units, no whitespace, the minimal string
escapes, numbers as ECMAScript prints a double. Integers must lie within +-2**53.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring
from typing import Any

_LIMIT = 2**53


class CanonicalError(ValueError):
    """A value that has no canonical JSON form (NaN, a huge integer, a non-string key...)."""


def canonical(value: Any) -> str:
    """The canonical JSON text of `value` (dicts, lists, str, int, float, bool, None)."""
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def _utf16_key(key: str) -> bytes:
    # Big-endian UTF-16 bytes compare in code-unit order.
    return key.encode("utf-16-be", "surrogatepass")


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        _write_str(value, out)
    elif isinstance(value, int):
        if abs(value) > _LIMIT:
            raise CanonicalError(f"integer {value} lies beyond 2^53")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(es_number(value))
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalError(f"object key {key!r} is not a string")
        out.append("{")
        # Code-point order is UTF-16 order unless a key holds a character beyond the BMP.
        ascii_keys = all(key.isascii() for key in value)
        for i, key in enumerate(sorted(value) if ascii_keys else sorted(value, key=_utf16_key)):
            if i:
                out.append(",")
            _write_str(key, out)
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise CanonicalError(f"{type(value).__name__} has no JSON form")


def _write_str(s: str, out: list[str]) -> None:
    # The standard library's C escaper escapes exactly what RFC 8785 does: the quote, the
    # backslash, the short forms of backspace, tab, newline, form feed and carriage return, and
    # every other control character below U+0020 as a lowercase six-character escape.
    out.append(encode_basestring(s))


def es_number(f: float) -> str:
    """ECMAScript `Number.prototype.toString` of a finite double."""
    if not math.isfinite(f):
        raise CanonicalError("NaN and infinities have no JSON form")
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    digits, exp = _shortest(abs(f))
    n = exp + len(digits)  # the decimal point sits after n digits
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mant = digits[0] + ("." + digits[1:] if k > 1 else "")
        body = f"{mant}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + body


def _shortest(f: float) -> tuple[str, int]:
    """Shortest round-trip digits of a positive double and the exponent of the last digit."""
    r = repr(f)
    mant, _, exp_text = r.partition("e")
    exp = int(exp_text) if exp_text else 0
    whole, _, frac = mant.partition(".")
    if frac == "0":
        frac = ""
    digits = (whole + frac).lstrip("0")
    exp -= len(frac)
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    return stripped or "0", exp
