"""Log a kind of problem at most once per interval, while still counting every occurrence."""

from __future__ import annotations


class OncePer:
    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def should_log(self, key: str, now: float) -> tuple[bool, int]:
        """(log now?, how many of this key were suppressed since it was last logged)."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False, 0
        self._last[key] = now
        return True, self._suppressed.pop(key, 0)
