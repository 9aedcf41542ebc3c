"""The CLI as a user drives it: a subprocess, its output and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[1] / "apps"


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "OVERCAST_ENGINE": f"sqlite:///{tmp_path / 'cli.db'}", "COLUMNS": "200"}

    def run(*args: str, ok: bool = True, stdin: str | None = None,
            remote_traceback: bool = False) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "overcast", *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, input=stdin, timeout=120)
        if ok:
            assert proc.returncode == 0, proc.stderr
        else:
            assert proc.returncode != 0, proc.stdout
            # our own errors are one line; a handler's traceback is the user's, and is shown
            assert remote_traceback or "Traceback" not in proc.stderr, proc.stderr
        return proc

    return run


def test_queue_lifecycle(cli) -> None:  # type: ignore[no-untyped-def]
    cli("queues", "create", "jobs-dlq")
    cli("queues", "create", "jobs", "--max-receive-count", "2", "--dead-letter", "jobs-dlq", "--visibility-timeout", "0")
    message_id = cli("queues", "send", "jobs", '{"id": 1}', "--attr", "kind=new", "--attr", "n:Number=3").stdout.strip()
    cli("queues", "send", "jobs", "plain text", "--raw")
    cli("queues", "send", "jobs", "--file", "-", stdin='{"from": "stdin"}')
    listing = json.loads(cli("queues", "ls", "--json").stdout)
    assert {q["name"]: q["visible"] for q in listing} == {"jobs": 3, "jobs-dlq": 0}
    human = cli("queues", "ls").stdout
    assert "jobs-dlq" in human and "standard" in human
    got = json.loads(cli("queues", "receive", "jobs", "--max", "10", "--json").stdout)
    assert [m["body"] for m in got] == [{"id": 1}, "plain text", {"from": "stdin"}]
    assert got[0]["id"] == message_id and got[0]["attributes"] == {"kind": "new", "n": 3}
    for _ in range(2):  # two more receives: the first one counted; now over the max
        cli("queues", "receive", "jobs", "--max", "10")
    stats = json.loads(cli("queues", "stats", "jobs-dlq", "--json").stdout)
    assert stats["visible"] == 3
    assert json.loads(cli("queues", "redrive", "jobs-dlq", "--json").stdout) == {"moved": 3}
    assert "purged 3" in cli("queues", "purge", "jobs").stderr
    cli("queues", "delete", "jobs", "--yes")
    assert [q["name"] for q in json.loads(cli("queues", "ls", "--json").stdout)] == ["jobs-dlq"]


def test_clear_errors(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("queues", "create", "small", "--max-message-size", "1024")
    cases = [
        (("queues", "send", "ghost", "1"), "queue 'ghost' does not exist"),
        (("queues", "send", "small", "{bad"), "BODY is not valid JSON"),
        (("queues", "send", "small", "x" * 2000, "--raw"), "over the queue's maximum of 1024 bytes"),
        (("queues", "send", "small", "1", "--attr", "AWS.x=1"), "reserved"),
        (("queues", "send", "small", "1", "--attr", "novalue"), "NAME=VALUE"),
        (("queues", "receive", "small", "--max", "11"), "max_messages"),
        (("queues", "create", "bad name"), "invalid queue name"),
        (("invoke", str(APPS / "funcs.py"), "echo", "--payload", "{nope"), "--payload is not valid JSON"),
        (("invoke", str(APPS / "funcs.py"), "ghost"), "has no function 'ghost'"),
        (("run", str(tmp_path / "missing.py")), "no such file"),
        (("queues", "ls", "--engine", "redis://x"), "unknown scheme"),
    ]
    for args, expected in cases:
        proc = cli(*args, ok=False)
        assert expected in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("\n") <= 2, proc.stderr


def test_run_reports_a_broken_app_in_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken.py"
    broken.write_text("from overcast import App\napp = App('b')\n@app.on_queue('nowhere')\ndef h(batch): pass\n")
    proc = cli("run", str(broken), ok=False)
    assert "no queue named 'nowhere'" in proc.stderr
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def (:\n")
    assert "syntax error" in cli("run", str(syntax), ok=False).stderr


def test_invoke(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("invoke", str(APPS / "funcs.py"), "echo", "--payload", '{"a": 1}').stdout
    assert json.loads(out) == {"a": 1}
    failed = cli("invoke", str(APPS / "funcs.py"), "boom", ok=False, remote_traceback=True)
    assert "KeyError" in failed.stderr and "missing thing" in failed.stderr
    as_json = cli("invoke", str(APPS / "funcs.py"), "boom", "--json", ok=False)
    assert json.loads(as_json.stdout)["errorType"] == "KeyError"
    queued = cli("invoke", str(APPS / "funcs.py"), "echo", "--async", "--json").stdout
    assert "invocation_id" in json.loads(queued)


def test_plan(cli) -> None:  # type: ignore[no-untyped-def]
    rows = json.loads(cli("plan", str(APPS / "funcs.py"), "--json").stdout)
    assert {r["queue"]: r["action"] for r in rows} == {
        "failures": "create", "inbox": "create", "inbox-dlq": "create", "results": "create"}
    cli("queues", "create", "results", "--visibility-timeout", "99")
    rows = json.loads(cli("plan", str(APPS / "funcs.py"), "--json").stdout)
    assert {r["queue"]: r["action"] for r in rows}["results"] == "update"
