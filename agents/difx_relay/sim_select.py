"""guiServer's relay selection (packet 17, SSC:423-503) and relay filter (SSC:222-273).

Every packet 17 clears the per-type flags, then each line is tested against the keywords *in
guiServer's order* with a substring match, first match wins: so a line `MARK5STATUS_MESSAGES`
selects Mark5 status only, while `X_STATUS_MESSAGES_Y` selects DiFX status. `ALL_MESSAGES`
sets relay-all and `SELECTED_MESSAGES` clears it; without either, relay-all keeps its value,
which starts true, so a selection without `SELECTED_MESSAGES` changes nothing (spec §7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

# (keyword, DiFX message type index or None); None for the two mode words and WEIGHT, which
# selects a type that no longer exists.
_KEYWORDS: Final = (
    ("ALL_MESSAGES", None),
    ("SELECTED_MESSAGES", None),
    ("ALERT_MESSAGES", 2),
    ("COMMAND_MESSAGES", 9),
    ("FILEOPERATION_MESSAGES", 20),
    ("FILETRANSFER_MESSAGES", 19),
    ("GETDIRECTORY_MESSAGES", 23),
    ("MARK5COPY_MESSAGES", 25),
    ("INFO_MESSAGES", 7),
    ("LOAD_MESSAGES", 1),
    ("MARK5STATUS_MESSAGES", 5),
    ("MACHINESDEFINITION_MESSAGES", 22),
    ("MK5CONTROL_MESSAGES", 24),
    ("SMART_MESSAGES", 16),
    ("STATUS_MESSAGES", 6),
    ("STOP_MESSAGES", 12),
    ("VEX2DIFXRUN_MESSAGES", 21),
    ("WEIGHT_MESSAGES", None),
    ("UNKNOWN_MESSAGES", 0),
)


@dataclass
class Selection:
    relay_all: bool = True
    types: set[int] = field(default_factory=set)

    def apply(self, payload: bytes) -> None:
        self.types.clear()
        for line in payload.decode("latin-1").split("\n"):
            for keyword, type_index in _KEYWORDS:
                if keyword in line:
                    if keyword == "ALL_MESSAGES":
                        self.relay_all = True
                    elif keyword == "SELECTED_MESSAGES":
                        self.relay_all = False
                    elif type_index is not None:
                        self.types.add(type_index)
                    break

    def passes(self, type_index: int) -> bool:
        return self.relay_all or type_index in self.types
