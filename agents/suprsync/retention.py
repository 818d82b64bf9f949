"""How long a verified local copy is kept, by rule.

A rule is `PATTERN=AGE`: PATTERN is a shell glob over the file's remote path (`*` also
matches `/`), AGE a duration (`90`, `90s`, `30m`, `12h`, `7d`) counted from the verified copy,
or `never`. The first rule that matches decides; a file no rule matches keeps the default
(`--delete-local-after`, or never when that is not given). Example for the `smurf` archive,
whose servers fill up: keep plots one day, outputs a week, tunes forever:

    --retention-rule '*/plots/*=1d' --retention-rule '*.tune*=never' --retention-rule '*=7d'
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?)\s*([smhd]?)\s*")


class RuleError(ValueError):
    """A retention rule or duration cannot be read."""


def parse_duration(text: str) -> float:
    m = _DURATION.fullmatch(text)
    if not m:
        raise RuleError(f"{text!r} is not a duration (examples: 90, 90s, 30m, 12h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass(frozen=True)
class Rule:
    pattern: str
    keep_for: float | None  # None: never delete

    @classmethod
    def parse(cls, text: str) -> Rule:
        pattern, sep, age = text.rpartition("=")
        if not sep or not pattern:
            raise RuleError(f"retention rule {text!r} is not PATTERN=AGE (e.g. '*/plots/*=1d')")
        keep = None if age.strip().lower() == "never" else parse_duration(age)
        return cls(pattern, keep)

    def matches(self, remote_path: str) -> bool:
        return fnmatch.fnmatchcase(remote_path, self.pattern)


@dataclass(frozen=True)
class RetentionPolicy:
    rules: tuple[Rule, ...] = ()
    default: float | None = None

    @property
    def enabled(self) -> bool:
        return self.default is not None or any(r.keep_for is not None for r in self.rules)

    @property
    def shortest(self) -> float | None:
        """The least any file is kept: no file verified more recently can be due."""
        ages = [r.keep_for for r in self.rules if r.keep_for is not None]
        if self.default is not None:
            ages.append(self.default)
        return min(ages) if ages else None

    def keep_for(self, remote_path: str) -> float | None:
        for rule in self.rules:
            if rule.matches(remote_path):
                return rule.keep_for
        return self.default

    def is_due(self, remote_path: str, verified_at: float, now: float) -> bool:
        keep = self.keep_for(remote_path)
        return keep is not None and now - verified_at >= keep
