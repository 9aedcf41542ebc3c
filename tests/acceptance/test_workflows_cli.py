"""`overcast workflows ...` and `overcast executions ...` as a user drives them: a subprocess,
its output and exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[1] / "apps"
APP = str(APPS / "wf_crash.py")
PIPELINE = str(APPS / "wf_pipeline.asl.json")
ORDER = {"order": "o-1", "items": [{"sku": "ab", "qty": 1}, {"sku": "cde", "qty": 2}]}


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {**os.environ, "OVERCAST_ENGINE": f"sqlite:///{tmp_path / 'cli.db'}", "COLUMNS": "200"}

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "overcast", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        if ok:
            assert proc.returncode == 0, proc.stderr
        else:
            assert proc.returncode != 0, proc.stdout
            assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    return run


def test_validate(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "valid" in cli("workflows", "validate", PIPELINE).stderr
    bad = tmp_path / "bad.asl.json"
    bad.write_text(
        json.dumps(
            {
                "StartAt": "A",
                "States": {
                    "A": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke.sync",
                        "Next": "Shipp",
                    },
                    "B": {"Type": "Wait", "End": True},
                },
            }
        )
    )
    proc = cli("workflows", "validate", str(bad), ok=False)
    assert 'bad.asl.json: States.A.Next: no state named "Shipp"' in proc.stderr
    assert "bad.asl.json: States.A.Resource:" in proc.stderr
    assert "problem(s) in 1 definition(s)" in proc.stderr
    report = json.loads(cli("workflows", "validate", str(bad), PIPELINE, "--json", ok=False).stdout)
    assert [r["valid"] for r in report] == [False, True] and len(report[0]["problems"]) >= 3
    broken = tmp_path / "broken.asl.json"
    broken.write_text("{")
    assert "not valid JSON" in cli("workflows", "validate", str(broken), ok=False).stderr


def test_run_a_definition_with_the_apps_functions(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("workflows", "run", PIPELINE, "--input", json.dumps(ORDER), "--app", APP)
    assert json.loads(proc.stdout) == {"order": "o-1", "total": 53, "size": "small"}
    data = json.loads(
        cli(
            "workflows",
            "run",
            PIPELINE,
            "--input",
            json.dumps(ORDER),
            "--app",
            APP,
            "--json",
            "--history",
        ).stdout
    )
    assert data["status"] == "SUCCEEDED" and data["history"][0]["type"] == "ExecutionStarted"
    proc = cli("workflows", "run", PIPELINE, "--input", '{"order": "o-2"}', ok=False)
    assert "execution FAILED: States.Runtime" in proc.stderr
    assert "not valid JSON" in cli("workflows", "run", PIPELINE, "--input", "{", ok=False).stderr


def test_executions(cli) -> None:  # type: ignore[no-untyped-def]
    arn = cli(
        "executions", "start", APP, "pipeline", "--input", json.dumps(ORDER), "--name", "n1"
    ).stdout.strip()
    assert arn == "arn:aws:states:us-east-1:000000000000:execution:pipeline:n1"
    again = json.loads(
        cli(
            "executions",
            "start",
            APP,
            "pipeline",
            "--input",
            json.dumps(ORDER),
            "--name",
            "n1",
            "--json",
        ).stdout
    )
    assert again == {"executionArn": arn}
    clash = cli("executions", "start", APP, "pipeline", "--input", "{}", "--name", "n1", ok=False)
    assert "ExecutionAlreadyExists" in clash.stderr and len(clash.stderr.strip().splitlines()) <= 2
    described = json.loads(cli("executions", "describe", APP, "pipeline/n1", "--json").stdout)
    assert described["status"] == "RUNNING" and json.loads(described["input"]) == ORDER
    assert "RUNNING" in cli("executions", "describe", APP, arn).stdout
    listed = json.loads(cli("executions", "ls", APP, "--status", "RUNNING", "--json").stdout)
    assert [e["name"] for e in listed] == ["n1"]
    assert "n1" in cli("executions", "ls", APP).stdout
    assert "ABORTED" in cli("executions", "stop", APP, "pipeline/n1", "--cause", "test").stderr
    events = json.loads(cli("executions", "history", APP, "pipeline/n1", "--json").stdout)
    assert [e["type"] for e in events][0] == "ExecutionStarted" and events[-1][
        "type"
    ] == "ExecutionAborted"
    assert "ExecutionAborted" in cli("executions", "history", APP, "pipeline/n1").stdout
    workflows = json.loads(cli("workflows", "ls", APP, "--json").stdout)
    assert workflows[0]["name"] == "pipeline" and workflows[0]["ABORTED"] == 1
    assert "pipeline" in cli("workflows", "ls", APP).stdout
    missing = cli("executions", "describe", APP, "pipeline/nope", ok=False)
    assert "does not exist" in missing.stderr
