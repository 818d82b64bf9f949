"""`.ci/system-packages.sh`: silent when the system packages are there; otherwise, for a
user who cannot install them, one line naming them and a failing exit."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "system-packages.sh"


def test_nothing_to_do_when_everything_is_installed():
    # the suite needs these packages, so they are installed wherever it runs
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.skipif(
    os.geteuid() != 0
    or not shutil.which("unshare")
    or not shutil.which("setpriv")
    or not Path("/usr/lib/postgresql").is_dir(),
    reason="hiding installed packages takes root (a private mount namespace)",
)
def test_a_user_without_the_packages_gets_one_line_naming_them(tmp_path):
    # /usr/sbin (sshd, slurmctld, munged) and /usr/lib/postgresql hidden in a private mount
    # namespace; run as nobody, who may not install anything
    hide = " && ".join(f"mount --bind {tmp_path} {d}" for d in ("/usr/sbin", "/usr/lib/postgresql"))
    done = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f"{hide} && exec setpriv --reuid=65534 --regid=65534 --clear-groups "
            f"env PATH=/usr/bin:/bin bash {SCRIPT}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr == (
        "missing system packages: openssh-server slurm-wlm munge postgresql (install them, "
        "e.g. sudo apt-get install openssh-server slurm-wlm munge postgresql)\n"
    )
