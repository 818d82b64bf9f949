"""What SupRsync builds from its settings (:mod:`.options`): the sync settings."""

from __future__ import annotations

from .commands import RsyncOptions, SshTarget
from .options import Options
from .retention import RetentionPolicy
from .sync import SyncSettings


def sync_settings(args: Options, instance_id: str) -> SyncSettings:
    """`errors.SshTargetError` (or the shared settings' ValueError) names a bad SSH setting."""
    ssh = None
    if args.ssh_host:
        ssh = SshTarget(host=args.ssh_host, port=args.ssh_port, settings=args.ssh.ssh_settings())
    return SyncSettings(
        archive_name=args.archive_name,
        instance_id=instance_id,
        remote_basedir=args.remote_basedir,
        file_root=args.suprsync_file_root,
        ssh=ssh,
        # rsync's own I/O timeout notices a stalled peer long before --copy-timeout would
        rsync=RsyncOptions(
            chmod=args.chmod or None,
            compression=args.compression,
            bwlimit=args.bwlimit,
            io_timeout=max(30.0, args.ssh.ssh_connect_timeout * 3),
        ),
        max_copy_attempts=args.max_copy_attempts,
        files_per_batch=args.files_per_batch,
        copy_timeout=args.copy_timeout,
        cmd_timeout=args.cmd_timeout,
        retention=RetentionPolicy(args.retention_rule, args.delete_local_after),
        recheck_per_iteration=args.recheck_files_per_iteration,
    )
