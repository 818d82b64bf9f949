"""SupRsync: copy one archive's registered files to the archive host, verify, clean up.

One agent instance per archive (``--archive-name smurf``, ``timestreams``, ...); several
instances and the Pysmurf monitor share one database. Every ``--sleep-time`` the loop:

1. **copies** the oldest queued files of its archive (``--files-per-batch``, not ignored,
   below ``--max-copy-attempts``) with one ``rsync -LrtI`` of a temporary symlink tree over
   SSH (``BatchMode``, ``ConnectTimeout``, host keys checked), then verifies them with one
   ``md5sum`` on the archive host. Each file is judged alone: a file whose local copy is
   gone, whose remote digest differs, or that did not arrive costs *that file* one attempt;
   an rsync or ssh failure is counted (``transfer_stats``) and costs no file an attempt;
2. **deletes** local copies whose retention ran out (``--delete-local-after`` and
   ``--retention-rule``, counted from the verified copy), after checking the remote copy once
   more; a bad remote copy sends the file again instead. Emptied folders of finished
   timecodes are removed (never the current one's, which writers may be filling);
3. **re-checks** a slice of local files (``--recheck-files-per-iteration``): one that changed
   since registration is re-hashed and sent again;
4. **finalizes** the archive's timecode dirs that are complete and fully verified, writing a
   YAML summary under ``--suprsync-file-root`` and registering it for upload;
5. publishes ``archive_stats`` (from indexed SQL aggregates) and ``transfer_stats``.

Modules: ``commands`` (argv for rsync/ssh/md5sum), ``md5sum_output``, ``tree`` (remote-path
rules, symlink tree), ``verdicts`` (per-file judgement), ``timecodes``, ``retention`` are
sans-I/O; ``sync`` holds the blocking steps, ``agent`` the WAMP shell. The SQL, the tables and
the ``socs-like suprsync`` command are in the file database package shared with the pysmurf
monitor, :mod:`socs_like_agents.filedb`.
"""
