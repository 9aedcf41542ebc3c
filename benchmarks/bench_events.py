"""Event routing benchmarks: the compiled ``RuleSet`` against LocalStack's EventBridge matcher and
a naive loop over ``matches``, at 1 to 10,000 rules; and events per second end to end, from
``put_events`` to a queue target on SQLite.

LocalStack (``localstack-core``, its pure-Python ``event_rule_engine``) is installed in its own
virtual environment, ``.bench-venv/``, created on first use so that it cannot pin our
dependencies; it is measured in a subprocess of that environment, in the same run, on the same
patterns and events, called the way its EventBridge provider calls it: every pattern compiled
once, then evaluated one pattern at a time against each event.

    .venv/bin/python benchmarks/run.py            # every topic, this one included
    .venv/bin/python benchmarks/bench_events.py   # this one alone
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
PEER_VENV = ROOT / ".bench-venv"
PEER_REQUIREMENTS = ["localstack-core==4.4.0", "rolo", "jsonpatch", "boto3"]  # its API models need boto3
RULE_COUNTS = [1, 100, 1_000, 10_000]
EVENTS = 2_000

PEER_SCRIPT = r"""
import json, sys, time
from localstack.services.events.event_rule_engine import EventPatternCompiler, EventRuleEngine

data = json.load(open(sys.argv[1]))
seconds = float(sys.argv[2])
compiler, engine = EventPatternCompiler(), EventRuleEngine()
out = {}
for count in data["counts"]:
    rules = [(str(i), compiler.compile_event_pattern(p)) for i, p in enumerate(data["patterns"][:count])]
    events = data["events"]
    checks = [[name for name, pattern in rules if engine.evaluate_pattern_on_event(pattern, e)] for e in events[:20]]
    done, start = 0, time.perf_counter()
    while True:
        event = events[done % len(events)]
        [name for name, pattern in rules if engine.evaluate_pattern_on_event(pattern, event)]
        done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    out[str(count)] = {"rate": done / elapsed, "checks": checks}
json.dump(out, sys.stdout)
"""


# -- workload -------------------------------------------------------------------------------------


def make_patterns(count: int, *, wide: bool = False, seed: int = 7) -> list[dict[str, Any]]:
    """Rules as teams write them: an exact source and detail-type, and on the detail one of an
    exact state, a numeric threshold, a prefix on a nested field, or an anything-but.

    The typical mix draws thresholds from ten business values (``> 100``, ``> 500``...); the
    ``wide`` mix gives every rule its own threshold, so that each event satisfies hundreds of
    numeric conditions at 1,000 rules — the case where the index's cost grows with the rules."""
    rng = random.Random(seed)
    patterns = []
    for i in range(count):
        pattern: dict[str, Any] = {"source": [f"svc.{i % 100}"], "detail-type": [f"type-{i % 7}"]}
        kind = i % 4
        if kind == 0:
            pattern["detail"] = {"state": [f"state-{rng.randrange(13)}", f"state-{rng.randrange(13)}"]}
        elif kind == 1:
            threshold = rng.randrange(1000) if wide else 100 * rng.randrange(10)
            pattern["detail"] = {"amount": [{"numeric": [">", threshold]}]}
        elif kind == 2:
            pattern["detail"] = {"customer": {"tier": [{"prefix": f"t{rng.randrange(5)}"}]}}
        else:
            pattern["detail"] = {"region": [{"anything-but": ["us-east-1", "us-west-2"]}]}
        patterns.append(pattern)
    return patterns


def make_events(count: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    regions = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"]
    return [{
        "version": "0", "id": f"e-{n}", "detail-type": f"type-{rng.randrange(7)}", "source": f"svc.{rng.randrange(100)}",
        "account": "000000000000", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"state": f"state-{rng.randrange(13)}", "amount": rng.randrange(2000), "id": n,
                   "customer": {"tier": f"t{rng.randrange(5)}-gold", "name": "x"}, "region": rng.choice(regions)},
    } for n in range(count)]


def measure(fn: Any, events: list[dict[str, Any]], seconds: float) -> float:
    """Events per second through ``fn(event)``: the best of three thirds of ``seconds`` (at least
    one event each; the machines are shared and noisy)."""
    best = 0.0
    done = 0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while True:
            fn(events[done % len(events)])
            done += 1
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 3:
                break
        best = max(best, count / elapsed)
    return best


# -- the peer -------------------------------------------------------------------------------------


def peer_python(console: Console) -> Path | None:
    """The peer virtual environment's interpreter, created (once) if missing."""
    python = PEER_VENV / "bin" / "python"
    probe = [str(python), "-c", "import localstack.services.events.event_rule_engine, rolo, jsonpatch"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    with console.status(f"installing {', '.join(PEER_REQUIREMENTS)} into {PEER_VENV.name}/"):
        try:
            if not python.exists():
                subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, capture_output=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True,
                           capture_output=True, timeout=900)
        except (subprocess.SubprocessError, OSError) as exc:
            console.print(f"[yellow]LocalStack could not be installed ({exc}); its column is left out[/yellow]")
            return None
    return python if subprocess.run(probe, capture_output=True).returncode == 0 else None


def run_peer(python: Path, patterns: list[dict[str, Any]], events: list[dict[str, Any]], seconds: float,
             folder: str) -> dict[str, Any]:
    data = Path(folder) / "events-workload.json"
    data.write_text(json.dumps({"counts": RULE_COUNTS, "patterns": patterns, "events": events}))
    script = Path(folder) / "localstack_matcher.py"
    script.write_text(PEER_SCRIPT)
    proc = subprocess.run([str(python), str(script), str(data), str(seconds)], capture_output=True, text=True,
                          timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# -- end to end -----------------------------------------------------------------------------------


def end_to_end(folder: str, seconds: float, rules: int = 100) -> tuple[float, float]:
    """(events/s from put_events to a queue target with ``rules`` rules on the bus, queue
    messages/s for the same batches sent straight to a queue), on SQLite."""
    from overcast import App
    from overcast.services.bus import Target
    from overcast.services.bus.router import BusRouter

    app = App("bench-events", engine=f"sqlite:///{folder}/events-e2e.db")
    app.queue("sink")
    app.queue("direct")
    bus = app.bus("bench")
    bus.rule("to-sink", {"source": ["bench"], "detail-type": ["Tick"]}, targets=[Target.queue("sink")])
    for i, pattern in enumerate(make_patterns(rules - 1)):
        bus.rule(f"other-{i}", pattern, targets=[Target.queue("direct")])
    entries = [{"Source": "bench", "DetailType": "Tick", "Detail": {"n": n, "payload": "x" * 100}} for n in range(10)]
    sink = app.get_queue("sink")
    direct = app.get_queue("direct")
    app.engine  # noqa: B018 - reconcile before timing
    [router] = [r for r in app.events.roles(app) if isinstance(r, BusRouter)]
    try:
        router.start()
        sent, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            bus.put_events(entries)
            sent += len(entries)
        while sink.stats()["visible"] < sent:
            time.sleep(0.005)
        routed = sent / (time.perf_counter() - start)
        router.stop()
        router.join(5)
        bodies = [{"n": n, "payload": "x" * 100} for n in range(10)]
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            direct.send_batch(bodies)
            count += len(bodies)
        queued = count / (time.perf_counter() - start)
    finally:
        router.stop()
        app.close()
    return routed, queued


# -- the report -----------------------------------------------------------------------------------


def matching_table(console: Console, title: str, patterns: list[dict[str, Any]], events: list[dict[str, Any]],
                   per: float, folder: str, python: Path | None) -> None:
    from overcast.matching import RuleSet, matches

    ours: dict[int, float] = {}
    naive: dict[int, float] = {}
    agree: dict[int, bool] = {}
    peer: dict[str, Any] = {}
    if python is not None:
        with console.status(f"LocalStack's matcher (in {PEER_VENV.name}/), {title}"):
            try:
                peer = run_peer(python, patterns, events, per, folder)
            except (RuntimeError, subprocess.SubprocessError) as exc:
                console.print(f"[yellow]LocalStack's matcher failed: {exc}[/yellow]")
    for count in RULE_COUNTS:
        with console.status(f"RuleSet and a naive loop, {count:,} rules, {title}"):
            ruleset: RuleSet[str] = RuleSet()
            for i, pattern in enumerate(patterns[:count]):
                ruleset.add(str(i), pattern)
            ours[count] = measure(ruleset.match, events, per)
            subset = list(enumerate(patterns[:count]))
            naive[count] = measure(lambda e, subset=subset: [str(i) for i, p in subset if matches(p, e)], events, per)
            if str(count) in peer:
                expected = peer[str(count)]["checks"]
                agree[count] = all(ruleset.match(e) == x for e, x in zip(events, expected, strict=False))
    table = Table(title=f"events matched per second, {title}", title_justify="left")
    for column in ["rules", "RuleSet", "vs 1 rule", "naive loop over matches", "RuleSet / naive",
                   "LocalStack matcher", "RuleSet / LocalStack"]:
        table.add_column(column, justify="right")
    for count in RULE_COUNTS:
        theirs = peer.get(str(count), {}).get("rate")
        table.add_row(
            f"{count:,}", f"{ours[count]:,.0f}", f"{ours[count] / ours[1]:.2f}", f"{naive[count]:,.1f}",
            f"{ours[count] / naive[count]:,.0f}×", f"{theirs:,.1f}" if theirs else "n/a",
            f"{ours[count] / theirs:,.0f}×" if theirs else "n/a",
        )
    console.print(table)
    if agree:
        console.print("RuleSet and LocalStack match the same rules (first 20 events): "
                      + ", ".join(f"{c:,} rules: {'yes' if ok else 'NO'}" for c, ok in agree.items()))


def run(console: Console, seconds: float, folder: str) -> None:
    per = max(0.3, seconds / 2)
    events = make_events(EVENTS)
    python = peer_python(console)
    top = max(RULE_COUNTS)
    matching_table(console, "typical rules", make_patterns(top), events, per, folder, python)
    matching_table(console, "a distinct numeric threshold per rule", make_patterns(top, wide=True), events, per,
                   folder, python)
    with console.status("end to end: put_events → router → queue target"):
        routed, queued = end_to_end(folder, per * 2)
    e2e = Table(title="end to end on SQLite (durability=normal), batches of 10", title_justify="left")
    e2e.add_column("path")
    e2e.add_column("per second", justify="right")
    e2e.add_column("vs queue", justify="right")
    e2e.add_row("queue send_batch (reference)", f"{queued:,.0f}", "1.00")
    e2e.add_row("put_events → router (100 rules) → queue target", f"{routed:,.0f}", f"{routed / queued:.2f}")
    console.print(e2e)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="overcast-bench-") as tmp:
        run(Console(), args.seconds, tmp)
    os._exit(0)
