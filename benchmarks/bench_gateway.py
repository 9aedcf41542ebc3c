"""HTTP gateway: requests per second and p99 latency with wrk over loopback, for a bare Starlette
app, an Overcast function route, the same with API-key auth and throttling, and a storage-first
queue route — all in one run. Installs wrk (Debian package) if it is missing."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table

HERE = Path(__file__).resolve().parent


def _ensure_wrk(console: Any) -> str | None:
    found = shutil.which("wrk")
    if found:
        return found
    console.print("[dim]installing wrk (apt-get)…[/dim]")
    subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], capture_output=True)
    return shutil.which("wrk")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def _wrk(wrk: str, url: str, seconds: float, folder: str, *, post: bool = False,
         headers: dict[str, str] | None = None) -> tuple[float, float]:
    script = Path(folder) / "wrk.lua"
    lines = []
    if post:
        lines += ['wrk.method = "POST"', 'wrk.body = \'{"n": 1}\'', 'wrk.headers["Content-Type"] = "application/json"']
    for k, v in (headers or {}).items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    script.write_text("\n".join(lines) + "\n")
    # warm up at the same concurrency first (workers started, caches filled): steady state only
    subprocess.run([wrk, "-t1", "-c16", "-d2s", "-s", str(script), url], capture_output=True, timeout=60)
    out = subprocess.run([wrk, "-t1", "-c16", f"-d{max(1, int(seconds))}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, timeout=120).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else float("nan")
    return rps, p99


def run(console: Any, seconds: float, folder: str) -> None:
    wrk = _ensure_wrk(console)
    if wrk is None:
        console.print("[yellow]gateway benchmark skipped: wrk could not be installed[/yellow]")
        return
    results: dict[str, tuple[float, float]] = {}
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    port = _port()
    bare = subprocess.Popen([sys.executable, str(HERE / "gateway_bare.py"), str(port)], env=env)
    try:
        _wait(f"http://127.0.0.1:{port}/hello", bare)
        with console.status("wrk: bare Starlette"):
            results["bare"] = _wrk(wrk, f"http://127.0.0.1:{port}/hello", seconds * 2, folder)
    finally:
        bare.terminate()
        bare.wait(10)

    url = f"sqlite:///{folder}/gateway.db"
    env["OVERCAST_ENGINE"] = url
    sys.path.insert(0, str(HERE))
    from overcast.engine import open_engine
    from overcast.gateway.keys import KeyStore

    engine = open_engine(url)
    key = KeyStore(engine).create("bench", rate=1_000_000, burst=1_000_000)
    engine.close()
    port = _port()
    server = subprocess.Popen([sys.executable, "-m", "overcast", "run", str(HERE / "gateway_app.py"),
                               "--port", str(port), "--log-level", "warning"], env=env,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/hello", server)
        with console.status("wrk: Overcast routes"):
            results["function"] = _wrk(wrk, f"{base}/hello", seconds * 2, folder)
            results["process"] = _wrk(wrk, f"{base}/hello-sync", seconds * 2, folder)
            results["keyed"] = _wrk(wrk, f"{base}/keyed", seconds * 2, folder, headers={"x-api-key": key})
            results["queue"] = _wrk(wrk, f"{base}/enqueue", seconds * 2, folder, post=True)
    finally:
        server.terminate()
        server.wait(30)

    table = Table(title="HTTP gateway, wrk -t1 -c16 over loopback", title_justify="left")
    for col in ["route", "requests/s", "p99", "vs bare Starlette"]:
        table.add_column(col, justify="left" if col == "route" else "right")
    labels = {"bare": "(a) bare Starlette + uvicorn, small JSON",
              "function": "(b) Overcast function route (async def: inline)",
              "process": "(b') function route, def handler in a worker process",
              "keyed": "(c) (b) + API key auth and throttling", "queue": "(d) storage-first queue route (202)"}
    for name, (rps, p99) in results.items():
        table.add_row(labels[name], f"{rps:,.0f}", f"{p99:.1f} ms", f"{rps / results['bare'][0]:.2f}")
    console.print(table)
