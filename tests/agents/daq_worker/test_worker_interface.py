"""WorkerInterface against a real OpenSSH server and a simulated worker: files on disk."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from socs_like.commands import SshSettings
from socs_like.testing import run_in_new_loop, wait_until
from socs_like_agents.daq_worker.errors import (
    AuthenticationFailed,
    CommandTimeout,
    ConnectError,
    HostKeyRejected,
    ProgramNotRunning,
    RemoteError,
    RequestError,
)
from socs_like_agents.daq_worker.interface import WorkerInterface, WorkerPrograms
from socs_like_agents.daq_worker.models import OrganizeProgress

run_async = run_in_new_loop


def interface(server, worker=None, *, settings=None, allowed_roots=None, **program_options):
    """An interface to ``server``, looking for ``worker``'s programs."""
    programs = worker.programs(**program_options) if worker else WorkerPrograms(**program_options)
    settings = dataclasses.replace(settings or SshSettings(), config_path=str(server.ssh_config))
    return WorkerInterface(
        server.alias, settings=settings, programs=programs, allowed_roots=allowed_roots
    )


@pytest.mark.parametrize("cwd_method", ["lsof", "proc"])
def test_every_method_on_a_simulated_worker(sshd, worker, home_tmp, cwd_method):
    worker.start(files=5, size=100)
    written = {n: (worker.workdir / n).read_bytes() for n in worker.graw_names()}
    log_lines = worker.log_path.read_text().splitlines()
    config = home_tmp / "cobo.xcfg"
    config.write_text("<cobo/>")
    home_rel = "~/" + home_tmp.name

    async def scenario():
        async with interface(sshd, worker, cwd_method=cwd_method) as w:
            assert await w.find_data_router() == str(worker.workdir)
            assert await w.get_graw_list() == [str(worker.workdir / n) for n in sorted(written)]
            assert await w.working_dir_is_clean() is False
            assert await w.check_ecc_server_status() is True
            assert await w.check_data_router_status() is True
            assert await w.tail_file(str(worker.log_path), 2) == log_lines[-2:]
            status = await w.status()
            assert (status.state, status.graw_files, status.graw_bytes) == ("ok", 5, 500)

            report = await w.organize_files("e22508", 7)
            again = await w.organize_files("e22508", 7)
            clean = await w.working_dir_is_clean()
            backup = await w.backup_config_files(
                "e22508", 7, [f"{home_rel}/cobo.xcfg"], f"{home_rel}/backup"
            )
            return report, again, clean, backup

    report, again, clean, backup = run_async(scenario())
    # every call went over the one connection
    assert sshd.output().count("Accepted publickey") == 1
    run_dir = worker.workdir / "e22508" / "run_0007"
    assert report.complete and report.done == sorted(written)
    assert report.destination == str(run_dir)
    assert {n: (run_dir / n).read_bytes() for n in worker.graw_names(run_dir)} == written
    assert worker.graw_names() == []
    assert clean is True
    assert again.done == [] and again.already_there == sorted(written) and again.complete
    assert backup.done == ["cobo.xcfg"]
    assert (home_tmp / "backup" / "e22508" / "run_0007" / "cobo.xcfg").read_text() == "<cobo/>"


def test_a_linux_worker_without_lsof_is_read_through_proc(make_sshd, worker, tmp_path):
    worker.start(files=2)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ps").symlink_to(shutil.which("ps"))
    # this worker's PATH has ps and no lsof
    server = make_sshd("nolsof", session_env={"PATH": str(bin_dir)})

    async def scenario():
        async with interface(server, worker) as w:
            found = await w.find_data_router(), await w.status()
        async with interface(server, worker, cwd_method="lsof") as w:
            with pytest.raises(RemoteError, match="nolsof: lsof is not installed"):
                await w.find_data_router()
        return found

    cwd, status = run_async(scenario())
    assert cwd == str(worker.workdir)
    assert (status.state, status.working_dir, status.graw_files) == ("ok", cwd, 2)


def test_no_data_router_is_a_clear_error_and_a_status(sshd, worker):
    async def scenario():
        async with interface(sshd, worker) as w:
            with pytest.raises(
                ProgramNotRunning, match=f"worker: {worker.router_name} is not running"
            ):
                await w.find_data_router()
            with pytest.raises(ProgramNotRunning):
                await w.organize_files("e1", 1)
            return await w.status(), await w.check_ecc_server_status()

    status, ecc = run_async(scenario())
    assert (status.state, status.data_router_up, status.graw_files) == ("ok", False, None)
    assert ecc is False


def test_host_key_mismatch_is_refused_and_the_opt_out_is_logged(make_sshd, worker, caplog):
    worker.start()
    real, impostor = make_sshd("real"), make_sshd("impostor")
    # the client trusts the real server's key for the impostor's address
    impostor.known_hosts.write_text(
        real.known_hosts.read_text().replace(real.known_hosts_pattern, impostor.known_hosts_pattern)
    )

    async def refused():
        async with interface(impostor):
            pass

    with pytest.raises(HostKeyRejected, match="impostor: host key not trusted"):
        run_async(refused())

    async def opted_out():
        async with interface(impostor, worker, settings=SshSettings(verify_host_keys=False)) as w:
            return await w.find_data_router()

    with caplog.at_level(logging.WARNING, logger="socs_like.commands"):
        assert run_async(opted_out()) == str(worker.workdir)
    assert "impostor: host key checking is OFF" in caplog.text


def test_wrong_client_key_is_refused(sshd, tmp_path):
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    config = tmp_path / "ssh_config"
    config.write_text(sshd.ssh_config_entry().replace(str(sshd.client_key), str(stranger)))

    async def scenario():
        async with WorkerInterface(sshd.alias, config_path=str(config)):
            pass

    with pytest.raises(AuthenticationFailed, match="worker: public key refused"):
        run_async(scenario())


def settled(worker, run_dir: Path) -> tuple[set[str], set[str]]:
    """The graw files left and moved, once two listings 0.2 s apart agree."""
    seen: list[tuple[set[str], set[str]]] = []

    def still() -> bool:
        seen.append((set(worker.graw_names()), set(worker.graw_names(run_dir))))
        return len(seen) >= 2 and seen[-1] == seen[-2]

    wait_until(still, timeout=30, interval=0.2, message="the folders to stop changing")
    return seen[-1]


def test_connection_dropped_mid_organize_then_resumed(sshd, worker):
    worker.start()
    written = worker.write_graw(4000)
    run_dir = worker.workdir / "e1" / "run_0042"

    def moved_so_far() -> int:
        return len(list(run_dir.glob("*.graw"))) if run_dir.exists() else 0

    async def scenario():
        # one rename at a time, so the drop lands mid-run
        async with interface(sshd, worker, rename_concurrency=1) as w:
            organize = asyncio.create_task(w.organize_files("e1", 42))
            await asyncio.to_thread(
                wait_until, lambda: moved_so_far() >= 200, timeout=30, message="moves"
            )
            await asyncio.to_thread(sshd.stop)
            first = await organize
            # A rename the dropped session had already sent may still land: look once the
            # folders have stopped changing, or a file moving between the two listings
            # shows in both.
            on_disk = await asyncio.to_thread(settled, worker, run_dir)
            await asyncio.to_thread(sshd.start)
            second = await w.organize_files("e1", 42)
            return first, on_disk, second

    first, (left, moved), second = run_async(scenario())
    assert first.interrupted and "connection lost" in first.interrupted
    assert 200 <= len(first.done) < len(written)
    # nothing lost at the drop; every confirmed move is in the run folder; a move the
    # server was killed in the middle of may be one file under both names
    assert left | moved == set(written)
    assert left & moved <= set(first.unconfirmed)
    assert set(first.done) <= moved and set(first.unconfirmed) <= left | moved
    assert second.complete
    assert set(second.done) == left - moved and set(second.already_there) == moved
    assert {n: (run_dir / n).read_bytes() for n in worker.graw_names(run_dir)} == written
    assert worker.graw_names() == []


def test_a_name_clash_in_the_run_folder_is_never_overwritten(sshd, worker):
    worker.start()
    written = worker.write_graw(3)
    run_dir = worker.workdir / "e1" / "run_0001"
    run_dir.mkdir(parents=True)
    (run_dir / "run_00001.graw").write_bytes(b"an older, different file")

    async def scenario():
        async with interface(sshd, worker) as w:
            return await w.organize_files("e1", 1)

    report = run_async(scenario())
    assert report.clashes == ["run_00001.graw"] and not report.complete
    assert report.done == ["run_00000.graw", "run_00002.graw"]
    assert (run_dir / "run_00001.graw").read_bytes() == b"an older, different file"
    assert (worker.workdir / "run_00001.graw").read_bytes() == written["run_00001.graw"]
    assert "1 left in place (name taken: run_00001.graw...)" in report.summary()


def test_a_move_the_server_cut_between_link_and_unlink_is_finished(sshd, worker):
    # OpenSSH's SFTP server renames by link() then unlink(): killed between them, it leaves
    # the file under both names, which used to stay a clash for good.
    worker.start()
    written = worker.write_graw(3)
    run_dir = worker.workdir / "e1" / "run_0001"
    run_dir.mkdir(parents=True)
    os.link(worker.workdir / "run_00001.graw", run_dir / "run_00001.graw")

    async def scenario():
        async with interface(sshd, worker) as w:
            return await w.organize_files("e1", 1)

    report = run_async(scenario())
    assert report.complete and report.clashes == []
    assert report.already_there == ["run_00001.graw"]
    assert report.done == ["run_00000.graw", "run_00002.graw"]
    assert worker.graw_names() == []
    assert {n: (run_dir / n).read_bytes() for n in worker.graw_names(run_dir)} == written


def test_traversal_attempts_are_rejected(sshd, worker, home_tmp, tmp_path):
    worker.start()
    worker.write_graw(1)
    outside = home_tmp.parent / (home_tmp.name + "-outside")
    (home_tmp / "escape").symlink_to("/etc")
    writable = tmp_path / "writable"  # outside the root, and ours to write
    writable.mkdir()
    (home_tmp / "out").symlink_to(writable)

    async def scenario():
        roots = [str(home_tmp)]
        async with interface(sshd, worker, allowed_roots=roots) as w:
            for name, number in [("../x", 1), ("a/b", 1), ("..", 1), ("e1", -1), ("e1", "1")]:
                with pytest.raises(RequestError, match="invalid"):
                    await w.organize_files(name, number)
            with pytest.raises(RequestError, match=r"refused \(dotdot\)"):
                await w.tail_file(f"{home_tmp}/../../etc/passwd")
            with pytest.raises(RequestError, match=r"refused \(symlink_escape\): resolves to /etc"):
                await w.tail_file(f"{home_tmp}/escape/passwd")  # via a symlink
            with pytest.raises(RequestError, match=r"refused \(outside_roots\)"):
                await w.backup_config_files("e1", 1, [f"{home_tmp}/a"], str(outside))
            # a folder to be made through a link that leads out: refused before it is made
            with pytest.raises(RequestError, match=r"refused \(symlink_escape\)"):
                await w.backup_config_files("e1", 1, [f"{home_tmp}/a"], f"{home_tmp}/out/new")
            with pytest.raises(RequestError, match=r"refused \(nul\)"):
                await w.tail_file(f"{home_tmp}/a\0b")
            report = await w.backup_config_files("e1", 1, ["/etc/hostname"], str(home_tmp))
            return report

    report = run_async(scenario())
    assert list(report.failed) == ["/etc/hostname"]
    assert "outside the allowed roots" in report.failed["/etc/hostname"]
    assert not outside.exists()
    assert list(writable.iterdir()) == []
    # no folder was made for a refused run, and the data file is untouched
    assert sorted(p.name for p in worker.workdir.iterdir()) == ["run_00000.graw"]


def test_proxy_jump_reaches_a_worker_through_a_gateway(make_sshd, worker, tmp_path):
    worker.start()
    gateway, inner = make_sshd("gateway"), make_sshd("inner")
    config = tmp_path / "ssh_config"
    known = tmp_path / "known_hosts"
    known.write_text(gateway.known_hosts.read_text() + inner.known_hosts.read_text())
    config.write_text(
        gateway.ssh_config_entry().replace(str(gateway.known_hosts), str(known))
        + inner.ssh_config_entry().replace(str(inner.known_hosts), str(known))
        + "    ProxyJump gateway\n"
    )

    async def scenario():
        async with WorkerInterface(
            "inner", config_path=str(config), programs=worker.programs()
        ) as w:
            return await w.find_data_router()

    assert run_async(scenario()) == str(worker.workdir)
    assert "Accepted publickey for" in gateway.output()


def test_a_host_that_accepts_but_never_speaks_ssh_times_out(sshd, tmp_path):
    with socket.socket() as silent:
        # the kernel completes the TCP handshake from the backlog; nobody ever answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        config = tmp_path / "ssh_config"
        config.write_text(
            sshd.ssh_config_entry("hung").replace(
                f"Port {sshd.port}", f"Port {silent.getsockname()[1]}"
            )
        )

        async def scenario():
            w = WorkerInterface(
                "hung", settings=SshSettings(config_path=str(config), connect_timeout=0.5)
            )
            try:
                return await w.status()
            finally:
                await w.close()

        status = run_async(scenario())
    assert status.state == "unreachable"
    assert status.error == "hung: no SSH answer within 0.5 s"


def test_commands_time_out_and_the_connection_survives(sshd):
    """The outcome, not the timing (that is bench/bench_daq_worker.py's): a command past its
    timeout comes back as timed out, well before it would have ended, and the next command
    runs on the same connection."""

    async def scenario():
        async with interface(sshd) as w:
            loop = asyncio.get_running_loop()
            started = loop.time()
            late = await w.pool.run(w.target, "sleep 120", timeout=0.3)
            elapsed = loop.time() - started
            result = await w.pool.run(w.target, "echo still here")
            return late, elapsed, result

    late, elapsed, result = run_async(scenario())
    assert late.timed_out and late.returncode is None
    with pytest.raises(CommandTimeout, match=r"^worker: sleep timed out$"):
        late.check()
    assert elapsed < 60  # generous: cut by the timeout, not by the command's 120 s
    assert result.stdout_text == "still here\n"
    assert sshd.output().count("Accepted publickey") == 1


def test_an_unreachable_worker_is_a_status_with_backoff(sshd, caplog):
    caplog.set_level(logging.INFO, logger="socs_like.commands")
    sshd.stop()

    async def scenario():
        w = interface(sshd, settings=SshSettings(backoff_initial=30.0, connect_timeout=2.0))
        try:
            return await w.status(), await w.status()  # the second inside the back-off
        finally:
            await w.close()

    first, second = run_async(scenario())
    assert first.state == "unreachable" and not first.reachable
    assert first.error == "worker: Connection refused"
    # no second attempt: the last error again, with the wait before the next attempt
    assert second.state == "unreachable"
    assert second.error.startswith("worker: Connection refused (next attempt in ")
    # an operation retries with back-off until its connect timeout: after 0.2, 0.4, 0.8 s
    retrying = interface(sshd, settings=SshSettings(backoff_initial=0.2, connect_timeout=3.0))
    with pytest.raises(ConnectError, match="worker: Connection refused"):
        run_async(retrying.connect())
    assert "retrying in 0.2 s" in caplog.text and "retrying in 0.4 s" in caplog.text


def test_a_host_missing_from_known_hosts_is_refused(sshd, worker, tmp_path):
    """Not a changed key: no key at all for this host. Refused, and said so as a state."""
    worker.start()
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    settings = SshSettings(known_hosts=str(empty))

    async def scenario():
        w = interface(sshd, worker, settings=settings)
        try:
            with pytest.raises(HostKeyRejected, match=r"^worker: host key not trusted \("):
                await w.find_data_router()
            return await w.status()
        finally:
            await w.close()

    status = run_async(scenario())
    assert status.state == "host-key-rejected" and not status.reachable
    assert "Accepted publickey" not in sshd.output()


def test_organize_reports_progress_while_it_runs(sshd, worker):
    worker.start()
    written = worker.write_graw(1500)
    seen: list[OrganizeProgress] = []

    async def scenario():
        async with interface(sshd, worker, rename_concurrency=2) as w:
            return await w.organize_files("e1", 3, progress=seen.append, progress_interval=0.05)

    report = run_async(scenario())
    assert report.complete and len(report.done) == len(written)
    # the first call comes before any move, then counts grow, never past the plan
    assert seen[0].moved == 0 and seen[0].to_move == len(written)
    assert seen[0].destination == str(worker.workdir / "e1" / "run_0003")
    moved = [p.moved for p in seen]
    assert moved == sorted(moved) and all(0 <= m <= len(written) for m in moved)
    assert any(0 < m < len(written) for m in moved), moved
