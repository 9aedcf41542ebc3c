"""``overcast engine migrate|status`` on each engine."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from overcast.cli import cli


def test_status_then_migrate_then_status(engine_url: str) -> None:
    runner = CliRunner()
    before = runner.invoke(cli, ["engine", "status", "--engine", engine_url])
    assert before.exit_code == 0, before.output
    assert "schema version 0" in before.output and "run overcast engine migrate" in before.output
    migrated = runner.invoke(cli, ["engine", "migrate", "--engine", engine_url])
    assert migrated.exit_code == 0 and "schema migrated from version 0 to" in migrated.output
    again = runner.invoke(cli, ["engine", "migrate", "--engine", engine_url])
    assert "schema is up to date" in again.output
    sent = runner.invoke(cli, ["queues", "--engine", engine_url, "create", "orders"])
    assert sent.exit_code == 0, sent.output
    assert runner.invoke(cli, ["queues", "--engine", engine_url, "send", "orders", '{"n": 1}']).exit_code == 0
    status = json.loads(runner.invoke(cli, ["engine", "status", "--engine", engine_url, "--json"]).output)
    assert status["schema_version"] == status["code_schema_version"] >= 1
    [orders] = [q for q in status["queues"] if q["queue"] == "orders"]
    assert orders["messages"] == 1 and orders["oldest_sent_at"] is not None
    shown = runner.invoke(cli, ["engine", "status", "--engine", engine_url])
    assert "orders" in shown.output and "messages" in shown.output and "ago" in shown.output


def test_an_unreachable_server_is_one_line_without_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "overcast", "engine", "status", "--engine", "postgresql://me:secret@127.0.0.1:1/db"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "cannot connect to PostgreSQL at postgresql://me:***@127.0.0.1:1/db" in out.stderr
    assert "secret" not in out.stderr
