"""One process per incident folder: an flock on ``.lock`` naming its holder.

flock is released by the kernel when the holder dies, so a crash never leaves a
stale lock; the file's text only says who held it last.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescind.errors import IncidentLocked

LOCK_NAME = ".lock"


class IncidentLock:
    def __init__(self, incident_dir: Path) -> None:
        self.path = incident_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(self.path)
            os.close(fd)
            raise IncidentLocked(
                f"incident {self.path.parent.name} is already open in {holder}",
                fix="finish or quit that session first; a second responder should "
                    "use `rescind approve` instead of opening the incident") from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.write(fd, json.dumps(info).encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def is_locked(incident_dir: Path) -> bool:
    """True while a live process holds the incident."""
    path = incident_dir / LOCK_NAME
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _describe(path: Path) -> str:
    try:
        info: dict[str, Any] = json.loads(path.read_text())
        return f"process {info['pid']} on {info['host']} (since {info['since']})"
    except (OSError, ValueError, KeyError):
        return "another process"
