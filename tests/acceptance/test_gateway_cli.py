"""The gateway as a user runs it: `overcast run` serving HTTP, `overcast keys`, `overcast routes`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from overcast import App

APPS = Path(__file__).resolve().parents[1] / "apps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "overcast", "run", str(APPS / "front.py"), "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(log.read_text())


def test_storage_first_survives_kill_9_after_202(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'front.db'}"
    log = tmp_path / "run.log"
    port = free_port()
    first = start({**os.environ, "OVERCAST_ENGINE": url, "FRONT_ACCEPT_ONLY": "1"}, port, log)
    r = httpx.post(f"http://127.0.0.1:{port}/payments", json={"amount": 99})
    assert r.status_code == 202
    os.kill(first.pid, signal.SIGKILL)  # right after the 202
    first.wait(10)
    second = start({**os.environ, "OVERCAST_ENGINE": url}, port, log)
    client = App("front", engine=url)
    processed = client.get_queue("processed")
    deadline = time.monotonic() + 30
    got: list = []
    while time.monotonic() < deadline and not got:
        got = processed.receive(1, wait=1)
    second.send_signal(signal.SIGINT)
    assert second.wait(30) == 0
    client.close()
    assert [m.body for m in got] == [{"amount": 99}]


def test_keys_and_routes_commands(tmp_path: Path) -> None:
    env = {**os.environ, "OVERCAST_ENGINE": f"sqlite:///{tmp_path / 'keys.db'}", "COLUMNS": "200"}

    def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "overcast", *args], env=env, capture_output=True, text=True,
                              timeout=60)
        assert (proc.returncode == 0) == ok, proc.stderr
        return proc

    created = json.loads(cli("keys", "create", "partner", "--rate", "5", "--burst", "10", "--json").stdout)
    assert created["name"] == "partner" and created["key"].startswith("ock_")
    assert [k["name"] for k in json.loads(cli("keys", "ls", "--json").stdout)] == ["partner"]
    cli("keys", "revoke", "partner")
    assert json.loads(cli("keys", "ls", "--json").stdout)[0]["revoked"] is True
    assert "no API key named 'ghost'" in cli("keys", "revoke", "ghost", ok=False).stderr
    assert "already exists" in cli("keys", "create", "partner", ok=False).stderr
    listing = json.loads(cli("routes", "ls", str(APPS / "web.py"), "--json").stdout)
    kinds = {(r["method"], r["path"]): r["integration"] for r in listing}
    assert kinds[("POST", "/payments")] == "queue"
    assert kinds[("ANY", "/legacy/{path+}")] == "proxy"
    assert kinds[("GET", "/dashboard")] == "aggregate"
    runs = {r["path"]: r["runs"] for r in listing}
    assert runs["/where/async"] == "inline" and runs["/where/sync"] == "process"
    assert runs["/where/async-isolated"] == "process" and runs["/where/sync-inline"] == "inline"
    assert runs["/payments"] is None
