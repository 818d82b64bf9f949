"""The monitor's settings, read as `socs-like agent PysmurfMonitor` parses them, and the parts
built from them (no agent, no sockets)."""

import os

import pytest

from socs_like import settings
from socs_like_agents.pysmurf_monitor import config, options
from socs_like_agents.pysmurf_monitor.paths import DEFAULT_DATED_DIR, DEFAULT_KEEP


def parse(*argv: str) -> options.Options:
    return settings.parse(options.Options, argv, env={})


def test_the_defaults_are_the_socs_agents_and_build_the_default_rules() -> None:
    args = parse()
    assert (args.udp_port, args.udp_host, args.udp_rcvbuf) == (8200, "0.0.0.0", 8 * 1024 * 1024)
    assert (args.create_table, args.test_mode, args.rescan) == (True, False, False)
    assert (args.batch_size, args.batch_interval, args.max_queued) == (2000, 0.1, 200_000)
    assert (args.rescan_min_age, args.rescan_interval, args.loss_rescan_delay) == (660, 0, 2)
    rules = config.registration_rules(args)
    assert rules.local_roots.roots == ("/data",)
    assert (rules.deletability.dated_dir, rules.deletability.keep) == (
        DEFAULT_DATED_DIR,
        DEFAULT_KEEP,
    )
    losses = config.loss_recovery(args)
    assert (losses.g3_dirs, losses.smurf_dirs, losses.delay) == ((), (), 2.0)


def test_folders_given_relative_are_taken_from_the_working_directory() -> None:
    args = parse(
        "--local-root", "site/data", "--local-root", "/mnt/x",
        "--keep-pattern", "^keep_",
        "--g3-dir", "streams/../streams",
        "--smurf-dir", "/data/smurf_data/",
        "--loss-rescan-delay", "0.5",
    )  # fmt: skip
    rules = config.registration_rules(args)
    assert rules.local_roots.roots == (os.path.abspath("site/data"), "/mnt/x")
    assert rules.deletability.keep == ("^keep_",)  # given patterns replace the defaults
    losses = config.loss_recovery(args)
    assert losses.g3_dirs == (os.path.abspath("streams"),)
    assert losses.smurf_dirs == ("/data/smurf_data",)
    assert losses.delay == 0.5


def test_a_bad_value_is_an_error_naming_the_argument() -> None:
    with pytest.raises(settings.SettingsError) as refused:
        parse("--batch-size", "many")
    assert str(refused.value) == "argument --batch-size: invalid int value: 'many'"
