"""The sync steps against a real database, real rsync and a real sshd on loopback."""

import os
import threading
import time

import pytest
import yaml
from sqlalchemy import update

from socs_like.testing import md5_hex, wait_until
from socs_like_agents.filedb.models import FileState, RegisteredFile, TimecodeDir

# timecodes near now: OLD is complete because NEW exists; NEW is still being filled
NEW = int(time.time() // 100_000)
OLD = NEW - 1


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_copy_verify_delete_finalize(make_archive):
    arch = make_archive("timestreams")
    old = [arch.add(f"{OLD}/ufm_mv{i % 2}/f {i}'s.g3", os.urandom(2000 + i)) for i in range(6)]
    new = arch.add(f"{NEW}/ufm_mv0/new.g3", b"new data")
    syncer = arch.syncer(retention=arch.settings.retention.__class__(default=0.0))

    report = syncer.copy_batch()
    assert (report["num_files"], report["verified"], report["failed"]) == (7, 7, 0)
    assert "error" not in report
    for file_id in [*old, new]:
        row = arch.row(file_id)
        assert row.state == FileState.SYNCED and row.remote_md5sum == row.local_md5sum
        assert md5_hex(arch.remote_bytes(row.remote_path)) == row.local_md5sum
        assert row.verified is not None and row.failed_copy_attempts == 0

    # due at once (retention 0): re-verified remotely, deleted, emptied folders removed
    assert syncer.delete_due() == {"deleted": 7, "already_gone": 0, "requeued": 0}
    assert arch.states() == {FileState.REMOVED: 7}
    assert all(arch.row(i).removed > 0 for i in old)
    # the finished timecode's emptied folders are gone; the current one's stay for writers
    assert [p.name for p in arch.local.iterdir()] == [str(NEW)]
    assert (arch.remote / f"{OLD}/ufm_mv1/f 5's.g3").exists()

    # OLD has a newer timecode and all its files verified: finalized once
    finals = syncer.update_timecodes()
    assert len(finals) == 1
    assert syncer.update_timecodes() == []
    tcdirs = arch.db.read(lambda s: {t.timecode: t for t in s.query(TimecodeDir).all()})
    assert tcdirs[OLD].finalized and tcdirs[OLD].finalize_file_id is not None
    assert not tcdirs[NEW].completed
    # the finalization file is itself registered and goes to <tc_now>/suprsync/<instance>/
    assert syncer.copy_batch()["verified"] == 1
    doc = yaml.safe_load(arch.remote_bytes(finals[0]))
    assert finals[0].split("/")[1:3] == ["suprsync", "sync-timestreams"]
    assert doc["timecode"] == OLD and doc["num_files"] == 6
    assert doc["subdirs"] == ["ufm_mv0", "ufm_mv1"]
    assert doc["archive_name"] == "timestreams" and doc["instance_id"] == "sync-timestreams"

    stats = syncer.archive_stats()
    assert stats["num_files"] == 8 and stats["uncopied_files"] == 0
    assert stats["last_file_copied"].endswith("_finalized.yaml")


def test_bad_files_fail_alone(make_archive):
    arch = make_archive("smurf")
    good = [arch.add(f"17000/crate1/a/outputs/good{i}.npy", os.urandom(500)) for i in range(4)]
    gone = arch.add("17000/crate1/a/outputs/gone.npy", b"soon deleted")
    changed = arch.add("17000/crate1/a/outputs/changed.npy", b"original")
    os.remove(arch.row(gone).local_path)
    path = arch.row(changed).local_path
    with open(path, "wb") as f:
        f.write(b"rewritten after registration")
    os.utime(path, (time.time() + 5, time.time() + 5))
    syncer = arch.syncer()

    report = syncer.copy_batch()
    assert (report["verified"], report["failed"]) == (4, 2)
    reasons = {f["path"]: f["reason"] for f in report["failures"]}
    gone_path = arch.row(gone).local_path
    assert reasons[gone_path] == f"local file {gone_path} is missing"
    assert reasons[path].startswith("remote md5 " + md5_hex(b"rewritten after registration"))
    assert all(arch.row(i).state == FileState.SYNCED for i in good)
    assert arch.row(gone).failed_copy_attempts == 1 and arch.row(gone).copied is None
    assert arch.row(changed).failed_copy_attempts == 1

    # the changed file is re-hashed by the recheck and goes again; the missing one does not
    report, _ = syncer.recheck(0, 100)
    assert report == {"checked": 6, "changed": 1, "missing": 1}
    row = arch.row(changed)
    assert (row.state, row.local_md5sum, row.failed_copy_attempts) == (
        FileState.QUEUED,
        md5_hex(b"rewritten after registration"),
        0,
    )
    report = syncer.copy_batch()
    assert (report["verified"], report["failed"]) == (1, 1)  # the missing one tries again
    assert arch.remote_bytes(row.remote_path) == b"rewritten after registration"

    # the missing file stops being tried at the limit; reset_failed gives it another go
    for attempt in range(3, 6):
        assert syncer.copy_batch()["failed"] == 1
        assert arch.row(gone).failed_copy_attempts == attempt
    assert syncer.copy_batch()["num_files"] == 0
    from socs_like_agents.filedb import queries as store

    assert arch.db.write(lambda s: store.reset_failed(s, "smurf", 5)) == 1
    assert syncer.copy_batch()["num_files"] == 1
    mism = arch.db.read(lambda s: store.mismatched(s, "smurf", 10))
    assert [m["id"] for m in mism] == [gone]
    assert arch.db.write(lambda s: store.set_ignore(s, "smurf", [gone], [], True)) == 1
    assert syncer.copy_batch()["num_files"] == 0
    assert syncer.archive_stats()["uncopied_files"] == 0


def test_corrupt_remote_copy_is_sent_again_not_deleted(make_archive):
    arch = make_archive("timestreams")
    data = os.urandom(4096)
    fid = arch.add("17000/s1/x.g3", data)
    syncer = arch.syncer(retention=arch.settings.retention.__class__(default=0.0))
    assert syncer.copy_batch()["verified"] == 1
    remote = arch.remote / "17000/s1/x.g3"
    st = remote.stat()
    remote.write_bytes(bytes(b ^ 0xFF for b in data))  # same size ...
    os.utime(remote, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and same mtime

    assert syncer.delete_due() == {"deleted": 0, "already_gone": 0, "requeued": 1}
    row = arch.row(fid)
    assert row.state == FileState.QUEUED and os.path.exists(row.local_path)
    assert row.remote_md5sum == md5_hex(bytes(b ^ 0xFF for b in data))
    # rsync's size+mtime shortcut would skip it; the batch is sent whole
    assert syncer.copy_batch()["verified"] == 1
    assert remote.read_bytes() == data
    assert syncer.delete_due()["deleted"] == 1


def test_sshd_stopped_mid_copy_costs_no_attempt(make_archive, sshd):
    arch = make_archive("timestreams")
    payloads = {arch.add(f"17000/s/{i}.g3", os.urandom(150_000)): i for i in range(6)}
    slow = arch.syncer(rsync=arch.settings.rsync.__class__(bwlimit="150"))
    result = {}
    worker = threading.Thread(target=lambda: result.update(slow.copy_batch()))
    worker.start()
    # wait until rsync is writing on the remote side, then take the host down
    wait_until(lambda: any(arch.remote.rglob("*")), 30, interval=0.05)
    sshd.stop()
    worker.join(60)
    assert "error" in result and result["failed"] == 0
    assert slow.counters.errors_nonzero >= 1
    for fid in payloads:
        row = arch.row(fid)
        assert row.failed_copy_attempts == 0 and row.state == FileState.QUEUED

    sshd.start()
    report = arch.syncer().copy_batch()
    assert report["verified"] == 6 and "error" not in report
    for fid in payloads:
        row = arch.row(fid)
        assert md5_hex(arch.remote_bytes(row.remote_path)) == row.local_md5sum


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_two_archives_do_not_interfere(make_archive):
    smurf, ts = make_archive("smurf"), make_archive("timestreams", over_ssh=False)
    smurf.add(f"{OLD}/crate/a/outputs/s.npy", b"smurf 1")
    smurf.add(f"{NEW}/crate/a/outputs/s2.npy", b"smurf 2")
    ts.add(f"{OLD}/ufm/t.g3", b"ts 1")
    bad = ts.add(f"{OLD}/ufm/missing.g3", b"ts 2")
    os.remove(ts.row(bad).local_path)
    ts.add(f"{NEW}/ufm/t2.g3", b"ts 3")
    s_sync, t_sync = smurf.syncer(), ts.syncer()

    assert s_sync.copy_batch()["verified"] == 2
    assert ts.states() == {FileState.QUEUED: 3}  # smurf's copy touched none of these
    assert (t_sync.copy_batch()["verified"], ts.row(bad).failed_copy_attempts) == (2, 1)
    assert sorted(p.name for p in smurf.remote.rglob("*") if p.is_file()) == ["s.npy", "s2.npy"]
    assert sorted(p.name for p in ts.remote.rglob("*") if p.is_file()) == ["t.g3", "t2.g3"]

    # timecode OLD is done for smurf, not for timestreams (one file never arrived)
    assert len(s_sync.update_timecodes()) == 1
    assert t_sync.update_timecodes() == []
    dirs = smurf.db.read(
        lambda s: {
            (d.archive_name, d.timecode): (d.synced, d.finalized)
            for d in s.query(TimecodeDir).all()
        }
    )
    assert dirs[("smurf", OLD)] == (True, True)
    assert dirs[("timestreams", OLD)] == (False, False)
    assert s_sync.archive_stats()["num_files"] == 3  # its two and its finalization file
    assert t_sync.archive_stats()["uncopied_files"] == 1


def test_rule_based_retention_for_smurf_on_a_local_archive(make_archive):
    from socs_like_agents.suprsync.retention import RetentionPolicy, Rule

    arch = make_archive("smurf", over_ssh=False)
    plot = arch.add(f"{OLD}/crate1/1_uxm_relock/plots/asd.png", b"png")
    tune = arch.add(f"{OLD}/crate1/1_uxm_relock/outputs/x.tune", b"tune")
    out = arch.add(f"{OLD}/crate1/1_uxm_relock/outputs/x.npy", b"npy")
    later = arch.add(f"{OLD}/crate1/1_uxm_relock/plots/later.png", b"png2")
    assert arch.syncer().copy_batch()["verified"] == 4
    # the others were verified two hours ago, `later` just now: plots are kept one hour
    arch.db.write(
        lambda s: s.execute(
            update(RegisteredFile)
            .where(RegisteredFile.id != later)
            .values(verified=RegisteredFile.verified - 7200)
        )
    )
    syncer = arch.syncer(
        retention=RetentionPolicy((Rule.parse("*/plots/*=1h"), Rule.parse("*.tune=never")))
    )
    assert syncer.delete_due() == {"deleted": 1, "already_gone": 0, "requeued": 0}
    assert arch.row(plot).state == FileState.REMOVED
    assert not os.path.exists(arch.row(plot).local_path)
    for kept in (tune, out, later):
        assert arch.row(kept).state == FileState.SYNCED
        assert os.path.exists(arch.row(kept).local_path)
    assert (arch.remote / f"{OLD}/crate1/1_uxm_relock/plots/asd.png").read_bytes() == b"png"


def test_two_syncers_and_a_busy_writer_share_one_sqlite_file(tmp_path, db, make_archive):
    """200 registrations/s while two archives copy, delete and count: no lock failures."""
    from socs_like_agents.filedb import queries as files
    from socs_like_agents.suprsync.retention import RetentionPolicy

    archives = [make_archive("smurf", over_ssh=False), make_archive("timestreams", over_ssh=False)]
    stop = threading.Event()
    errors = []
    registered = []

    def writer():
        n = 0
        while not stop.is_set():
            batch = []
            for _ in range(20):  # 20 every 0.1 s
                arch = archives[n % 2]
                rel = f"{NEW}/s{n % 4}/{n}.g3"
                path = arch.local / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"%d" % n)
                batch.append(
                    files.NewFile(
                        local_path=str(path),
                        archive_name=arch.name,
                        remote_path=rel,
                        timestamp=time.time(),
                        local_md5sum=md5_hex(b"%d" % n),
                    )
                )
                n += 1
            registered.extend(db.write(lambda s, b=batch: files.register(s, b)))
            time.sleep(0.1)

    copied = {a.name: 0 for a in archives}
    deleted = {a.name: 0 for a in archives}

    def sync(arch):
        syncer = arch.syncer(retention=RetentionPolicy(default=0.0))
        try:
            while not stop.is_set():
                report = syncer.copy_batch()
                # a copy that failed or an rsync/md5sum error is a failure here, not noise
                if report.get("error") or report.get("failed"):
                    errors.append(report)
                copied[arch.name] += report.get("verified", 0)
                deleted[arch.name] += syncer.delete_due().get("deleted", 0)
                syncer.update_timecodes()
                syncer.archive_stats()
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=sync, args=(a,)) for a in archives
    ]
    for t in threads:
        t.start()
    wait_until(lambda: len(registered) >= 1000 or errors, 60)
    stop.set()
    for t in threads:
        t.join(60)
    assert errors == []
    assert db.stats.lock_failures == 0
    # both archives copied and deleted while the writer was registering
    assert all(n > 0 for n in copied.values()), copied
    assert all(n > 0 for n in deleted.values()), deleted
    # whatever was registered gets copied once the writer stops, each file exactly once
    for arch in archives:
        syncer = arch.syncer()
        while (report := syncer.copy_batch())["num_files"]:
            assert not report.get("error") and report["failed"] == 0, report
            copied[arch.name] += report["verified"]
        assert syncer.archive_stats()["uncopied_files"] == 0
    assert sum(copied.values()) == len(registered)


def _with_known_hosts(ssh, path):
    from dataclasses import replace

    return replace(ssh, settings=replace(ssh.settings, known_hosts=str(path)))


def test_host_missing_from_known_hosts_is_refused_and_costs_no_attempt(tmp_path, make_archive):
    """A known_hosts that does not name the archive host at all (not a changed key): ssh
    must not learn the key on first use; nothing is copied and no file is charged."""

    empty = tmp_path / "known_hosts_without_the_host"
    empty.write_text("")
    arch = make_archive("timestreams")
    fid = arch.add(f"{OLD}/s/x.g3", b"data")
    syncer = arch.syncer(ssh=_with_known_hosts(arch.settings.ssh, empty))
    report = syncer.copy_batch()
    assert "Host key verification failed" in report["error"]
    assert (report["verified"], report["failed"], report["unchecked"]) == (0, 0, 1)
    assert arch.row(fid).failed_copy_attempts == 0
    assert arch.row(fid).state == FileState.QUEUED
    assert not (arch.remote / f"{OLD}/s/x.g3").exists()
    assert empty.read_text() == ""  # the key was not added on first use


def test_unknown_host_key_is_refused_and_costs_no_attempt(make_archive, sshd, make_sshd):

    impostor = make_sshd("impostor", start=False)
    # a known_hosts that pins another server's key for this server's address
    wrong = impostor.known_hosts.read_text().replace(
        impostor.known_hosts_pattern, sshd.known_hosts_pattern
    )
    impostor.known_hosts.write_text(wrong)
    arch = make_archive("timestreams")
    fid = arch.add(f"{OLD}/s/x.g3", b"data")
    syncer = arch.syncer(ssh=_with_known_hosts(arch.settings.ssh, impostor.known_hosts))
    report = syncer.copy_batch()
    assert "Host key verification failed" in report["error"]
    assert (report["verified"], report["failed"], report["unchecked"]) == (0, 0, 1)
    assert arch.row(fid).failed_copy_attempts == 0
    assert not (arch.remote / f"{OLD}/s/x.g3").exists()
