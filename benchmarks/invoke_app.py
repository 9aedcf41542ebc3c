"""The app the invoke benchmark calls (a module, so worker processes can import it)."""

from __future__ import annotations

from typing import Any

from overcast import App

app = App("bench")


@app.function
def echo(event: Any) -> Any:
    return event
