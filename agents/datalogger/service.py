"""The grabber's work, end to end, for the agent and the command line alike (blocking).

A parameter grab writes its files, then distils each into the database at once and
regenerates the plot page, so statistics and plots follow every new file; a file grabbed
before (``GrabReport.reused``) is distilled only when its statistics are not stored yet (its
run was killed before). One grab runs at a time per ``Grabber`` (the scheduler and a task asked
at once take turns). ``remove_dead_drafts`` clears what grabs killed mid-write left behind:
the agent calls it at start, the command line before its grab.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from socs_like.db import Database
from socs_like.paths import Roots

from .client import HttpLogger
from .drafts import remove_dead
from .errors import RequestError
from .grab import GrabOptions, GrabReport, Progress, grab_events, grab_params
from .listfile import read_device_list
from .plots import write_page
from .stats import FileStats, file_stats
from .store import MIGRATIONS, all_stats, has_file_stats, replace_file_stats
from .window import EVENT_PREFIX, PARAM_PREFIX, Window

OnStats = Callable[[FileStats], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class GrabberConfig:
    logger_url: str
    device_list: Path | None
    options: GrabOptions
    plot_dir: Path
    site: str
    timeout: float = 60.0


class Grabber:
    def __init__(self, config: GrabberConfig, db: Database) -> None:
        self.config = config
        self.db = db
        self.source = HttpLogger(config.logger_url, timeout=config.timeout)
        self.lock = threading.Lock()
        self._schema_lock = threading.Lock()
        self._upgraded = False
        self.roots = Roots([config.options.outdir.resolve()], option="--outdir")

    def remove_dead_drafts(self) -> list[Path]:
        """Remove the drafts (and parts) of grabs that died writing them: in the draft and
        output folders, named as ours, and held by no live writer (see ``drafts``)."""
        options = self.config.options
        removed = remove_dead([options.draftdir, options.outdir], [PARAM_PREFIX, EVENT_PREFIX])
        for path in removed:
            log.warning("removed %s (a draft nobody writes: its grab was killed)", path.name)
        return removed

    def upgrade(self) -> None:
        """Create or migrate the tables, once (every entry point below calls this first)."""
        with self._schema_lock:
            if not self._upgraded:
                MIGRATIONS.upgrade(self.db)
                self._upgraded = True

    def grab_params(
        self,
        window: Window,
        *,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        on_stats: OnStats | None = None,
    ) -> list[GrabReport]:
        if self.config.device_list is None:
            raise RequestError("no --device-list configured: cannot grab parameters")
        # read at every grab: an edited list is used (or refused, naming its line) next time
        devices = read_device_list(str(self.config.device_list))
        self.upgrade()
        with self.lock:
            reports = grab_params(
                self.source,
                devices,
                window,
                self.config.options,
                progress=progress,
                should_stop=should_stop,
            )
            for report in reports:
                if report.path is not None and report.samples and not self._distilled(report):
                    stats = self._distill(report.path)
                    if on_stats:
                        on_stats(stats)
            self._export()
        return reports

    def grab_events(
        self,
        window: Window,
        *,
        max_evt: int,
        only_first: bool = False,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> GrabReport:
        with self.lock:
            return grab_events(
                self.source,
                window,
                self.config.options,
                max_evt=max_evt,
                only_first=only_first,
                progress=progress,
                should_stop=should_stop,
            )

    def distill(self, file: str, on_stats: OnStats | None = None) -> FileStats:
        """Statistics of a file in the output folder (a name or a path inside it)."""
        outdir = str(self.config.options.outdir.resolve())
        path = Path(self.roots.resolve(file, base=outdir, what="file"))
        self.upgrade()
        with self.lock:
            stats = self._distill(path)
            self._export()
        if on_stats:
            on_stats(stats)
        return stats

    def export_plots(self) -> Path:
        self.upgrade()
        with self.lock:
            return self._export()

    def _distilled(self, report: GrabReport) -> bool:
        name = report.path.name if report.path else ""
        return report.reused and self.db.read(lambda s: has_file_stats(s, name))

    def _distill(self, path: Path) -> FileStats:
        stats = file_stats(path)
        self.db.write(lambda s: replace_file_stats(s, stats))
        return stats

    def _export(self) -> Path:
        rows = self.db.read(all_stats)
        return write_page(self.config.plot_dir, rows, self.config.site)
