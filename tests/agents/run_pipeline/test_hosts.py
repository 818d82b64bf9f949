"""Which failures of a command run through ssh are ssh's own (a host out of reach: the run is
not charged an attempt), from what the command says, without the network."""

from socs_like.commands import CommandResult
from socs_like_agents.run_pipeline.hosts import ssh_failed

# rsync's words when a partition cut the DAQ host off as it connected (seen in the suite): it
# exited 12, not ssh's 255, and the partition had healed by the time the hosts were asked
CUT_OFF_AS_IT_CONNECTED = (
    b"ssh: connect to host 10.231.2.2 port 22: Connection timed out\n"
    b"rsync: connection unexpectedly closed (0 bytes received so far) [Receiver]\n"
    b"rsync error: error in rsync protocol data stream (code 12) at io.c(285) [Receiver=3.5.0]\n"
)


def result(code: int, stderr: bytes) -> CommandResult:
    return CommandResult(command="rsync -a src dst", returncode=code, stderr=stderr)


def test_ssh_that_could_not_connect_is_ssh_s_failure_whatever_rsync_exits():
    assert ssh_failed(result(12, CUT_OFF_AS_IT_CONNECTED))
    assert ssh_failed(result(255, b"rsync: connection unexpectedly closed\n"))


def test_a_failure_of_the_copy_itself_is_the_run_s():
    assert not ssh_failed(result(23, b"rsync: some files/attrs were not transferred\n"))
    assert not ssh_failed(result(12, b"rsync: connection unexpectedly closed\n"))
