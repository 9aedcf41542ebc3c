"""The event CLI as a user drives it: ``overcast events put``, ``rules ls|test``,
``archives ls|replay``, ``topics ls|publish|subscriptions``, ``schedules ls``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.apps.events_drive import Drive, bodies

APP = Path(__file__).resolve().parents[1] / "apps" / "events_cli.py"
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    env = {**os.environ, "OVERCAST_ENGINE": f"sqlite:///{tmp_path / 'cli.db'}", "COLUMNS": "200"}

    def run(*args: str, ok: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "overcast", *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, input=stdin, timeout=120)
        if ok:
            assert proc.returncode == 0, proc.stderr
        else:
            assert proc.returncode != 0, proc.stdout
            assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    return run


def test_rules_ls_and_test(cli: Run, tmp_path: Path) -> None:
    rules = json.loads(cli("rules", "ls", str(APP), "--json").stdout)
    assert [r["Name"] for r in rules] == ["big", "all"]
    assert rules[0]["Targets"][0] == {"Id": "queue-big-orders", "Kind": "queue", "Name": "big-orders",
                                      "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}}
    assert "queue:big-orders" in cli("rules", "ls", str(APP)).stdout
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"source": "shop", "detail-type": "x", "detail": {"total": 150, "currency": "GBP"}}))
    tested = json.loads(cli("rules", "test", str(event), "--app", str(APP), "--json").stdout)
    by_rule = {r["rule"]: r for r in tested}
    assert by_rule["all"]["matched"] and not by_rule["big"]["matched"]
    fields = {f["field"]: f["matched"] for f in by_rule["big"]["fields"]}
    assert fields == {"source": True, "detail.total": True, "detail.currency": False}
    human = cli("rules", "test", str(event), "--pattern", '{"detail": {"currency": ["EUR"]}}', ok=False)
    assert "no match" in human.stdout and "detail.currency" in human.stdout and "GBP" in human.stdout
    bad = cli("rules", "test", str(event), "--pattern", '{"detail": {"total": [{"numeric": [">", "x"]}]}}', ok=False)
    assert "detail.total.numeric[1]" in bad.stderr


def test_put_archive_replay_topics_and_schedules(cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = json.loads(cli("archives", "ls", str(APP), "--json").stdout)  # loads the app: the engine is reconciled
    assert listed["archives"][0]["ArchiveName"] == "all-orders" and listed["archives"][0]["EventCount"] == 0
    put = json.loads(cli("events", "put", "--bus", "orders", "--source", "shop", "--detail-type", "OrderPlaced",
                         "--detail", '{"total": 150, "currency": "EUR"}', "--json").stdout)
    assert put["FailedEntryCount"] == 0
    entries = json.dumps([{"Source": "shop", "DetailType": "x", "Detail": {"total": 5}},
                          {"Source": "shop", "DetailType": "x", "Detail": "{oops"}])
    failed = cli("events", "put", "--bus", "orders", "--entries", "-", stdin=entries, ok=False)
    assert "MalformedDetail" in failed.stdout and "1 of 2 entries failed" in failed.stderr
    assert "does not exist" in cli("events", "put", "--bus", "ghost", "--source", "s", "--detail-type", "t", ok=False).stdout
    assert "give --source" in cli("events", "put", ok=False).stderr

    monkeypatch.setenv("OVERCAST_ENGINE", f"sqlite:///{tmp_path / 'cli.db'}")
    from tests.apps import events_cli

    Drive(events_cli.app).settle()  # what `overcast run` does: route the accepted events
    assert [b["total"] for b in bodies(events_cli.app, "audit")] == [150, 5]
    events_cli.app.close()

    listed = json.loads(cli("archives", "ls", str(APP), "--json").stdout)
    assert listed["archives"][0]["EventCount"] == 2
    state = json.loads(cli("archives", "replay", str(APP), "all-orders", "--from", "2000-01-01T00:00:00Z",
                           "--to", "2100-01-01T00:00:00Z", "--name", "again", "--rule", "big", "--json").stdout)
    assert state["state"] == "COMPLETED" and state["replayed"] == 2
    assert "already ran" in cli("archives", "replay", str(APP), "all-orders", "--from", "2000-01-01T00:00:00Z",
                                "--to", "2100-01-01T00:00:00Z", "--name", "again", ok=False).stderr
    assert "no archive 'nope'" in cli("archives", "replay", str(APP), "nope", "--from", "2000-01-01T00:00:00Z",
                                      "--to", "2001-01-01T00:00:00Z", ok=False).stderr
    assert "again" in cli("archives", "ls", str(APP)).stdout

    topics = json.loads(cli("topics", "ls", str(APP), "--json").stdout)
    assert topics == [{"TopicArn": "arn:aws:sns:us-east-1:000000000000:news", "Name": "news", "Fifo": False,
                       "Subscriptions": 1, "Pending": 0}]
    [sub] = json.loads(cli("topics", "subscriptions", str(APP), "news", "--json").stdout)
    assert sub["Protocol"] == "queue" and sub["Endpoint"] == "alerts" and sub["RawMessageDelivery"] is True
    assert json.loads(sub["FilterPolicy"]) == {"kind": ["alert"]}
    message_id = cli("topics", "publish", "news", "fire!", "--attr", "kind=alert").stdout.strip()
    assert len(message_id) == 36
    assert "topic 'ghost' does not exist" in cli("topics", "publish", "ghost", "x", ok=False).stderr
    assert "NAME=VALUE" in cli("topics", "publish", "news", "x", "--attr", "novalue", ok=False).stderr
    assert json.loads(cli("topics", "ls", str(APP), "--json").stdout)[0]["Pending"] == 1

    [schedule] = json.loads(cli("schedules", "ls", str(APP), "--json").stdout)
    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)" and schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert schedule["NextFiring"].endswith(("01:00:00Z", "00:00:00Z")) and schedule["Fired"] == 0
    assert "nightly" in cli("schedules", "ls", str(APP)).stdout
