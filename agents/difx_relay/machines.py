"""`.machines` and `.threads` files of a DiFX job, sans-I/O.

`.machines`: one host per line — the head node, then one line per datastream, then one per
processor. `.threads`: `NUMBER OF CORES:    N`, then the thread count of each processor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import LocalProtocolError, RemoteProtocolError


@dataclass(frozen=True, slots=True)
class Machines:
    head: str
    datastreams: tuple[str, ...]
    processors: tuple[tuple[str, int], ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "head": self.head,
            "datastreams": list(self.datastreams),
            "processors": [{"node": n, "threads": t} for n, t in self.processors],
        }


def processors_from(items: Sequence[object]) -> tuple[tuple[str, int], ...]:
    """Processors as the tasks take them: "node:threads" or {"node", "threads"}."""
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("node"), str):
            node, threads = item["node"], item.get("threads", 1)
        elif isinstance(item, str):
            node, _, threads = item.partition(":")
            threads = threads or 1
        else:
            raise LocalProtocolError(
                f"processor {item!r}: give 'node:threads' or {{'node', 'threads'}}"
            )
        try:
            count = int(threads)
        except (TypeError, ValueError):
            raise LocalProtocolError(f"processor {item!r}: threads must be an integer") from None
        if not node or count < 1:
            raise LocalProtocolError(f"processor {item!r}: needs a node and threads >= 1")
        out.append((node, count))
    return tuple(out)


def machines_from(
    head: str, datastreams: Sequence[object], processors: Sequence[object]
) -> Machines:
    """Machines from task parameters, checked."""
    if not head:
        raise LocalProtocolError("a head node is needed")
    return Machines(head, tuple(map(str, datastreams)), processors_from(processors))


def parse_machines(machines: str, threads: str, n_datastreams: int) -> Machines:
    """Both files of one job; `n_datastreams` comes from the job's .input (DATASTREAM ENTRIES)."""
    hosts = [line.split()[0] for line in machines.splitlines() if line.strip()]
    if len(hosts) < 1 + n_datastreams:
        raise RemoteProtocolError(
            f".machines lists {len(hosts)} hosts, need a head node and {n_datastreams} datastreams"
        )
    lines = [line.strip() for line in threads.splitlines() if line.strip()]
    if not lines or not lines[0].upper().startswith("NUMBER OF CORES:"):
        raise RemoteProtocolError(".threads does not start with 'NUMBER OF CORES:'")
    try:
        n_cores = int(lines[0].split(":", 1)[1])
        counts = [int(x) for x in lines[1 : 1 + n_cores]]
    except ValueError:
        raise RemoteProtocolError(".threads holds a count that is not an integer") from None
    procs = hosts[1 + n_datastreams :]
    if len(counts) != n_cores or len(procs) != n_cores:
        raise RemoteProtocolError(
            f".threads declares {n_cores} cores with {len(counts)} counts; "
            f".machines lists {len(procs)} processors"
        )
    return Machines(
        hosts[0], tuple(hosts[1 : 1 + n_datastreams]), tuple(zip(procs, counts, strict=True))
    )


def datastream_count(input_text: str) -> int:
    """`DATASTREAM ENTRIES:` of a DiFX .input file."""
    for line in input_text.splitlines():
        if line.upper().startswith("DATASTREAM ENTRIES:"):
            try:
                return int(line.split(":", 1)[1])
            except ValueError:
                break
    raise RemoteProtocolError(".input has no valid 'DATASTREAM ENTRIES:' line")
