"""What the monitor builds from its settings (:mod:`.options`): the rules an announced file
is registered by, and how lost announcements are recovered."""

from __future__ import annotations

import os

from socs_like.paths import Roots

from .lost import LossRecovery, normalised
from .options import Options
from .paths import DeletabilityRules
from .registration import RegistrationRules


def registration_rules(args: Options) -> RegistrationRules:
    return RegistrationRules(
        # relative folders (handy in a site config) are taken from the working directory
        local_roots=Roots((os.path.abspath(r) for r in args.local_root), option="--local-root"),
        deletability=DeletabilityRules(dated_dir=args.deletable_dir, keep=args.keep_pattern),
    )


def loss_recovery(args: Options) -> LossRecovery:
    return LossRecovery(
        g3_dirs=normalised(args.g3_dir),
        smurf_dirs=normalised(args.smurf_dir),
        delay=args.loss_rescan_delay,
    )
