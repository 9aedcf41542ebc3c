"""A plain script that declares an app and uses it at top level (no main guard) just works:
worker processes stop importing it where it starts using the app, so nothing runs twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
from overcast import App

app = App("script")
jobs = app.queue("jobs")


@app.function
def double(event):
    return event * 2


jobs.send("only once")
print(app.invoke("double", 21), app.invoke("double", 4))
print(jobs.stats()["visible"])
"""


def test_unguarded_script(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "OVERCAST_ENGINE": f"sqlite:///{tmp_path / 's.db'}"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["42", "8", "1"]
