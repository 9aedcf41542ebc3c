"""A throwaway PostgreSQL server for tests and benchmarks, run from the machine's own binaries.

``PostgresServer`` runs ``initdb`` and ``pg_ctl`` in a temporary folder on a free loopback port,
hands out URLs (a fresh schema per test is cheap: ``fresh_schema_url``), restarts the server on
demand and removes everything when stopped. It needs psycopg (``pip install 'overcast[postgres]'``)
and PostgreSQL's server binaries (``apt-get install postgresql``).

Before changing: PostgreSQL refuses to run as root, and these machines often run as root. Every
server command then runs as the unprivileged ``postgres`` system user (created if missing), so
the data folder must belong to that user and every folder above it must be traversable by it:
the folder is made with ``tempfile.mkdtemp`` in the system temporary directory for that reason.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from overcast.errors import ConfigError

SERVER_USER = "postgres"  # the system user the server runs as when we are root
_schema_numbers = itertools.count(1)


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: ``$OVERCAST_PG_BINDIR``, ``pg_config
    --bindir``, the newest ``/usr/lib/postgresql/*/bin``, then ``PATH``."""
    candidates: list[Path] = []
    if os.environ.get("OVERCAST_PG_BINDIR"):
        candidates.append(Path(os.environ["OVERCAST_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)

    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        candidates.append(Path(found))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise ConfigError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install them "
        "(apt-get install postgresql) or set OVERCAST_PG_BINDIR"
    )


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _server_account() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, or None to run it as ourselves (we are not root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            check=True, capture_output=True,
        )
        entry = pwd.getpwnam(SERVER_USER)
    return entry.pw_uid, entry.pw_gid


class PostgresServer:
    """A PostgreSQL server of our own, for the length of a test session or a benchmark.

    ``fsync=False`` makes it fast for tests (a crash of the machine would lose the data, which
    is thrown away anyway); benchmarks keep ``fsync`` and ``synchronous_commit`` on.
    """

    def __init__(
        self,
        *,
        fsync: bool = True,
        synchronous_commit: bool = True,
        max_connections: int = 300,
        settings: dict[str, str] | None = None,
        database: str = "overcast",
        user: str = "overcast",
    ) -> None:
        self.bindir = find_bindir()
        self.user = user
        self.password = secrets.token_hex(8)
        self.database = database
        self.port = 0
        self.host = "127.0.0.1"
        self._settings = {
            "listen_addresses": f"'{self.host}'",
            "fsync": "on" if fsync else "off",
            "full_page_writes": "on" if fsync else "off",
            "synchronous_commit": "on" if synchronous_commit else "off",
            "max_connections": str(max_connections),
            "log_min_messages": "warning",
            **(settings or {}),
        }
        self._account = _server_account()
        self.folder: Path | None = None
        self.running = False

    # -- where ---------------------------------------------------------------------------------

    @property
    def data(self) -> Path:
        assert self.folder is not None, "the server is not started"
        return self.folder / "data"

    @property
    def log_file(self) -> Path:
        assert self.folder is not None, "the server is not started"
        return self.folder / "server.log"

    def url(self, database: str | None = None, *, password: str | None = None, **options: str) -> str:
        """A ``postgresql://`` URL for a database of this server (libpq options as query)."""
        pw = self.password if password is None else password
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in options.items())
        return (f"postgresql://{self.user}:{quote(pw, safe='')}@{self.host}:{self.port}/"
                f"{database or self.database}" + (f"?{query}" if query else ""))

    # -- lifecycle -----------------------------------------------------------------------------

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self._account is not None:
            kwargs.update(user=self._account[0], group=self._account[1], extra_groups=[])
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]], cwd=self.folder, env=env, capture_output=True,
            text=True, timeout=timeout, **kwargs,
        )
        if check and result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(
                f"{args[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}\n{log}"
            )
        return result

    def start(self) -> PostgresServer:
        """Create the cluster and its database, start the server and wait until it accepts."""
        if self.running:
            return self
        self.folder = Path(tempfile.mkdtemp(prefix="overcast-pg-"))
        os.chmod(self.folder, 0o700)
        if self._account is not None:
            os.chown(self.folder, *self._account)
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        if self._account is not None:
            os.chown(pwfile, *self._account)
        self._run(
            "initdb", "-D", str(self.data), "-U", self.user, f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-locale", "--no-sync",
        )
        pwfile.unlink()
        self.port = free_port()
        conf = {**self._settings, "port": str(self.port), "unix_socket_directories": f"'{self.folder}'"}
        with (self.data / "postgresql.conf").open("a") as f:
            f.write("\n# overcast.testing.postgres\n")
            for key, value in conf.items():
                f.write(f"{key} = {value}\n")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "60", "start")
        self.running = True
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        return self

    def restart(self) -> None:
        """Restart the server (fast shutdown: clients are disconnected) and wait until it accepts."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_file), "-m", "fast", "-w", "-t", "60",
                  "restart")

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        if self.folder is None:
            return
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop", check=False)
            self.running = False
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- per-test databases ------------------------------------------------------------------

    def execute(self, sql: str, database: str | None = None) -> None:
        """Run one statement as the server's superuser (autocommit)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql.encode())  # our own SQL, built from names we made

    def fresh_schema_url(self, prefix: str = "t") -> str:
        """A URL whose ``search_path`` is a new, empty schema: a clean Overcast database in a few
        milliseconds (no CREATE DATABASE, which copies a template and checkpoints)."""
        name = f"{prefix}{next(_schema_numbers)}_{secrets.token_hex(3)}"
        self.execute(f'CREATE SCHEMA "{name}"')
        return self.url(options=f"-csearch_path={name}")

    def fresh_database_url(self, prefix: str = "db") -> str:
        """A URL of a new, empty database (slower than a schema; for tests that need one)."""
        name = f"{prefix}{next(_schema_numbers)}_{secrets.token_hex(3)}"
        self.execute(f'CREATE DATABASE "{name}"', database="postgres")
        return self.url(name)
