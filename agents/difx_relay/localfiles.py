"""The local side of get_file and send_file: files under `--local-root`, read up to a size and
written whole or not at all. Blocking: the agent runs these in its worker threads."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from socs_like.paths import Roots

from .errors import OperationFailed


class LocalFiles:
    def __init__(self, roots: Iterable[str], max_bytes: int) -> None:
        # relative roots (the demo site's var/difx-relay) are relative to where the agent runs
        self.roots = Roots(map(os.path.abspath, roots), option="--local-root")
        self.max_bytes = max_bytes

    def resolve(self, path: str) -> str:
        return self.roots.resolve(path)

    def write(self, path: str, content: bytes) -> None:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            tmp = f"{path}.part"
            with open(tmp, "wb") as f:
                f.write(content)
            os.replace(tmp, path)
        except OSError as e:
            raise OperationFailed(
                f"fetched {len(content)} bytes but cannot write {path}: {e}"
            ) from None

    def read(self, path: str) -> bytes:
        try:
            size = os.path.getsize(path)
            if size > self.max_bytes:
                raise OperationFailed(
                    f"{path} is {size} bytes, more than the {self.max_bytes} allowed"
                )
            return Path(path).read_bytes()
        except OSError as e:
            raise OperationFailed(str(e)) from None
