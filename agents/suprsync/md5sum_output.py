"""Parse what GNU `md5sum` prints: `<32 hex>  <name>` per line.

A name holding a backslash, newline or carriage return is printed escaped (`\\\\`, `\\n`,
`\\r`) and its line starts with a backslash. A `*` instead of the second space marks binary
mode. Every line ends in a newline, so an unterminated last line was cut short (a dropped
connection) and is not trusted. Anything else (a warning, garbage) is returned as a bad line,
never raised: the caller judges each file by whether a digest came back for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(r"(\\?)([0-9a-fA-F]{32}) [ *](.+)", re.DOTALL)
_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


@dataclass(frozen=True)
class Md5Listing:
    digests: dict[str, str] = field(default_factory=dict)  # name -> lower-case hex digest
    bad_lines: tuple[str, ...] = ()


def _unescape(name: str) -> str | None:
    out: list[str] = []
    chars = iter(name)
    for c in chars:
        if c == "\\":
            nxt = next(chars, None)
            if nxt not in _ESCAPES:
                return None
            out.append(_ESCAPES[nxt])
        else:
            out.append(c)
    return "".join(out)


def parse_md5sum(output: bytes) -> Md5Listing:
    """Digests by file name. A name listed twice with different digests is a bad line."""
    text = output.decode("utf-8", errors="surrogateescape")
    digests: dict[str, str] = {}
    bad: list[str] = []
    lines = text.split("\n")
    if lines[-1]:
        bad.append(lines[-1])
    for line in lines[:-1]:
        if not line:
            continue
        m = _LINE.fullmatch(line)
        name = None
        if m is not None:
            name = _unescape(m.group(3)) if m.group(1) else m.group(3)
        if m is None or name is None:
            bad.append(line)
            continue
        digest = m.group(2).lower()
        if digests.get(name, digest) != digest:
            bad.append(line)
            continue
        digests[name] = digest
    return Md5Listing(digests, tuple(bad))
