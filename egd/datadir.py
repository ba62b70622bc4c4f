"""The data dir (default `./.egd`): the embedded nats-server's store and where a running daemon says where
it listens, so that `egd apply`, `get` and friends find it without flags."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

DEFAULT_DATA_DIR = Path(".egd")


class DaemonAlreadyRunningError(RuntimeError):
    pass


class UnusableDataDirError(RuntimeError):
    """The data dir cannot be created or written (a file in the way, no permission)."""


class DataDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def nats_store(self) -> Path:
        return self.path / "nats"

    @property
    def nats_url_file(self) -> Path:
        return self.path / "nats.url"

    @property
    def admin_url_file(self) -> Path:
        return self.path / "admin.url"

    def read_nats_url(self) -> str | None:
        return _read(self.nats_url_file)

    def read_admin_url(self) -> str | None:
        return _read(self.admin_url_file)

    def record(self, *, nats_url: str, admin_url: str) -> None:
        _write(self.nats_url_file, nats_url)
        _write(self.admin_url_file, admin_url)

    def forget(self) -> None:
        for file in (self.nats_url_file, self.admin_url_file):
            file.unlink(missing_ok=True)

    def lock(self) -> int:
        """Take the data dir for one `egd serve`; a second one on the same dir is refused."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / "serve.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UnusableDataDirError(f"cannot use {self.path} as the data dir: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DaemonAlreadyRunningError(f"another egd serve is already running on data dir {self.path}") from None
        return fd


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    tmp.replace(path)
