"""A PostgreSQL instance a test owns: initdb + pg_ctl on a free port, in a temporary directory.

The test can stop and start it at will (the machine's shared server must never be stopped).
initdb refuses to run as root, so as root the instance runs as the ``postgres`` user, in a
directory that user owns. Tests skip with the reason when no local PostgreSQL binaries exist.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_port


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class OwnPostgres:
    bin_dir: Path
    data_dir: Path
    port: int
    user: str | None  # run pg_ctl as this user (when we are root)

    @property
    def uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 60) -> None:
        command = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=on -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir / "data"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            "-l",
            str(self.data_dir / "postgres.log"),
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir / "data"), "-m", mode, "-w", "stop")


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("no local PostgreSQL binaries (initdb, pg_ctl) to run an own instance")
    user: str | None = None
    directory = Path(tempfile.mkdtemp(prefix="mlflow-core-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user for initdb")
        user = "postgres"
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    instance = OwnPostgres(bin_dir, directory, free_port(), user)
    try:
        instance._run(
            "initdb",
            "-D",
            str(directory / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        instance.start()
        yield instance
    finally:
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            instance.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)
