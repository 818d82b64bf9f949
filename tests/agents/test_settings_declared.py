"""Every agent declares its settings (socs_like.settings) where `socs-like up` and
``config check`` look for them, and its ``--help`` still offers the flags it offered when each
agent wrote its own argparse block, each with its help."""

from __future__ import annotations

import importlib.metadata

import pytest

from socs_like.runner import declared_options, parse_agent_args
from socs_like.settings import describe

AGENTS = sorted(e.name for e in importlib.metadata.entry_points(group="socs_like.agents"))
SSH = (
    "--known-hosts --no-host-key-check --ssh-command-timeout --ssh-config "
    "--ssh-connect-timeout --ssh-keepalive --ssh-key"
)
# the flags of each agent's --help before the declarations (site flags aside)
FLAGS = {
    "DaqWorker": "--cwd-method --data-router-name --ecc-server-name --file-root --hosts "
    "--monitor-interval --rename-concurrency " + SSH,
    "DataGrabber": "--concurrency --days --db-path --device-list --draftdir --event-schedule "
    "--hours --logger-url --max-catchup --max-evt --minutes --outdir --param-schedule "
    "--plot-dir --retries --retry-delay --seconds --site-name --timeline-outdir "
    "--timeline-rotate --timeout",
    "DiFXRelay": "--allowed-root --difx-version --host --idle-probe --local-root "
    "--max-file-bytes --mode --multicast-group --multicast-interface --multicast-port "
    "--no-relay --op-timeout --port --probe-timeout --reconnect-max --selection --setup-path",
    "FakeData": "--frame-length --mode --num-channels --sample-rate",
    "FileRecorder": "--data-dir --flush-interval --initial-state --max-queue-mb --time-per-file",
    "HostManager": "--control",
    "InfluxPublisher": "--batch-size --database --flush-interval --gzip --host --initial-state "
    "--layout --max-queue-mb --port --protocol --spool-dir --ssl --timeout --verify-ssl",
    "PysmurfMonitor": "--batch-interval --batch-size --checksum-workers --create-table "
    "--db-path --deletable-dir --echo-sql --g3-dir --keep-pattern --local-root "
    "--loss-rescan-delay --max-queued --meta-buffer-time --no-create-table --read-size "
    "--rescan --rescan-interval --rescan-min-age --smurf-dir --stats-interval --test-mode "
    "--udp-host --udp-port --udp-rcvbuf",
    "Registry": "--wait-time",
    "RunPipeline": "--archive-bwlimit --archive-period --archive-target --backend --batch "
    "--bundle-bytes --bundle-max-age --bundle-runs --cluster --cluster-host --compressed-area "
    "--daq-host --daq-live-process --daq-root --db-path --jobs-area --local-slots --long-queue "
    "--max-transfer-attempts --max-transfer-time --monitor-period --process-command "
    "--process-period --processed-area --push-target --raw-area --remove-source --short-limit "
    "--short-queue --transfer-bwlimit --transfer-mode --transfer-period --work-dir " + SSH,
    "SupRsync": "--archive-name --bwlimit --chmod --cmd-timeout --compression --copy-timeout "
    "--db-path --delete-local-after --echo-sql --files-per-batch --max-copy-attempts "
    "--recheck-files-per-iteration --remote-basedir --retention-rule --sleep-time --ssh-host "
    "--ssh-port --suprsync-file-root " + SSH,
}


def test_every_installed_agent_is_listed() -> None:
    assert sorted(FLAGS) == AGENTS


@pytest.mark.parametrize("name", AGENTS)
def test_the_agents_help_lists_every_flag_with_its_help(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        parse_agent_args(["--help"], name)
    assert done.value.code == 0
    shown = capsys.readouterr().out
    offered = {word.rstrip(",") for word in shown.split() if word.startswith("--")}
    assert set(FLAGS[name].split()) <= offered
    letters = "".join(shown.split())  # argparse wraps lines, at spaces and after hyphens
    for setting in describe_declared(name):
        assert "".join(str(setting["help"]).split()) in letters, setting["flag"]


def describe_declared(name: str) -> list[dict[str, object]]:
    """The declared settings of agent `name`, as get_api lists them at their defaults."""
    options = declared_options(name)
    assert options is not None
    required = {"hosts": ("h",), "control": "/c", "logger_url": "u", "outdir": "/o"}
    required |= {"archive_name": "a", "remote_basedir": "/r", "suprsync_file_root": "/f"}
    fields = options.__dataclass_fields__
    given = {k: v for k, v in required.items() if k in fields}
    relay_mode = {"host": "h", "port": 1} if name == "DiFXRelay" else {}
    return describe(options(**given, **relay_mode))


@pytest.mark.parametrize("name", AGENTS)
def test_the_settings_up_checks_are_the_ones_the_agent_is_built_with(name: str) -> None:
    """`up` and ``config check`` read <package>.options.Options without loading the agent."""
    cls = importlib.metadata.entry_points(group="socs_like.agents")[name].load()
    assert cls.Options is declared_options(name)
