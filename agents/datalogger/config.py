"""What the agent builds from its settings (:mod:`.options`): the grabber's config, the
schedules that are on, and the configured window length. A bad cron expression is a
``RequestError`` naming it, before the agent starts."""

from __future__ import annotations

from .grab import GrabOptions
from .options import Options
from .service import GrabberConfig
from .store import plot_dir_beside
from .window import Length, Schedule

SCHEDULES = ("params", "events")


def grabber_config(args: Options, instance_id: str) -> GrabberConfig:
    """Folders resolved; drafts in ``<outdir>/.draft``, the page beside the database and
    titled with the instance id unless given."""
    outdir = args.outdir.resolve()
    options = GrabOptions(
        draftdir=(args.draftdir or outdir / ".draft").resolve(),
        outdir=outdir,
        concurrency=args.request.concurrency,
        retries=args.request.retries,
        retry_delay=args.request.retry_delay,
    )
    return GrabberConfig(
        logger_url=args.logger_url,
        device_list=args.device_list,
        options=options,
        plot_dir=(args.plot_dir or plot_dir_beside(args.db_path)).resolve(),
        site=args.site_name or instance_id,
        timeout=args.request.timeout,
    )


def schedules(args: Options) -> dict[str, Schedule]:
    """Each schedule by name (``params``, ``events``) unless its expression is ``off``."""
    given = {"params": args.param_schedule, "events": args.event_schedule}
    return {name: Schedule(given[name]) for name in SCHEDULES if given[name] != "off"}


def length(args: Options) -> Length:
    return Length(days=args.days, hours=args.hours, minutes=args.minutes, seconds=args.seconds)
