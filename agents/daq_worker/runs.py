"""Run folders: ``<experiment>/run_<NNNN>``, with names checked before they reach a path.

An experiment name is one path component of letters, digits, ``_``, ``-`` and ``.``, starting
with a letter or digit (so never ``.``, ``..`` or a hidden name), at most 64 characters. A run
number is a non-negative integer below one million, written with at least four digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import RequestError

EXPERIMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_RUN_NUMBER = 999_999


def check_experiment_name(name: object) -> str:
    if not isinstance(name, str) or not EXPERIMENT_RE.fullmatch(name):
        raise RequestError(
            f"invalid experiment name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


def check_run_number(number: object) -> int:
    # bool is an int subclass; True is not a run number
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_RUN_NUMBER:
        raise RequestError(
            f"invalid run number {number!r}: use an integer from 0 to {MAX_RUN_NUMBER}"
        )
    return number


@dataclass(frozen=True)
class RunId:
    experiment: str
    number: int

    def __post_init__(self) -> None:
        check_experiment_name(self.experiment)
        check_run_number(self.number)

    @property
    def folder(self) -> str:
        """The run folder relative to its parent, e.g. ``e22508/run_0007``."""
        return f"{self.experiment}/run_{self.number:04d}"
