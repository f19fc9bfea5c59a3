#!/usr/bin/env python3
"""An independent implementation of quell's audit-chain hash, in Python, from docs/audit-chain.md.

    python3 tests/vectors/jcs.py check tests/vectors/chain.json   # exit 0 when every vector matches
    python3 tests/vectors/jcs.py fill  tests/vectors/chain.json   # (re)compute expected values

It shares no code with quell: it exists to prove that another language reproduces the hashes
byte for byte.
"""
import hashlib
import json
import math
import sys


def es_number(f):
    """ECMAScript Number.prototype.toString for a finite double."""
    if isinstance(f, bool):
        raise TypeError("bool is not a number")
    if isinstance(f, int):
        if abs(f) > 2**53:
            raise ValueError(f"integer {f} beyond 2^53")
        return str(f)
    if not math.isfinite(f):
        raise ValueError("not finite")
    if f == 0:
        return "0"
    sign = "-" if f < 0 else ""
    r = repr(abs(f))  # shortest round-trip digits
    if "e" in r:
        mant, exp = r.split("e")
        exp = int(exp)
    else:
        mant, exp = r, 0
    if "." in mant:
        intpart, frac = mant.split(".")
    else:
        intpart, frac = mant, ""
    if frac == "0":
        frac = ""
    digits = (intpart + frac).lstrip("0")
    # position of the decimal point relative to the start of `digits`
    lead_zeros = len(intpart + frac) - len((intpart + frac).lstrip("0"))
    n = len(intpart) - lead_zeros + exp
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        es = "+" if e >= 0 else "-"
        body = (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + es + str(abs(e))
    return sign + body


def es_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\r":
            out.append("\\r")
        elif c < 0x20:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonical(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return es_number(v)
    if isinstance(v, str):
        return es_string(v)
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v.keys(), key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(es_string(k) + ":" + canonical(v[k]) for k in keys) + "}"
    raise TypeError(type(v))


def event_hash(event):
    unsealed = {k: v for k, v in event.items() if k != "hash"}
    text = canonical(unsealed)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def main():
    mode, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    failures = 0
    for vec in doc["vectors"]:
        text, digest = event_hash(vec["event"])
        if mode == "fill":
            vec["canonical"], vec["hash"] = text, digest
        elif text != vec["canonical"] or digest != vec["hash"]:
            failures += 1
            print(f"MISMATCH {vec['name']}: {digest} != {vec['hash']}", file=sys.stderr)
    if mode == "fill":
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=2)
            f.write("\n")
    print(f"{len(doc['vectors']) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
