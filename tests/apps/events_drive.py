"""Drive an app's event roles (routers, deliverer, scheduler) by hand in a test: no threads, no
sleeping — route what is waiting, attempt what is due, then look."""

from __future__ import annotations

from typing import Any

from overcast import App
from overcast.services.bus.delivery import Deliverer
from overcast.services.bus.router import Router
from overcast.services.scheduler.scheduler import Scheduler


class Drive:
    def __init__(self, app: App) -> None:
        self.app = app
        roles = app.events.roles(app)
        self.routers = [r for r in roles if isinstance(r, Router)]
        self.deliverers = [r for r in roles if isinstance(r, Deliverer)]
        self.schedulers = [r for r in roles if isinstance(r, Scheduler)]

    def settle(self, rounds: int = 20) -> int:
        """Route and deliver until nothing is left that is due now; return how much was done."""
        total = 0
        for _ in range(rounds):
            done = sum(r.run_once() for r in self.routers) + sum(d.run_once() for d in self.deliverers)
            total += done
            if not done:
                break
        return total

    def tick(self) -> None:
        for scheduler in self.schedulers:
            scheduler.run_once()
        self.settle()


def drain(app: App, name: str) -> list[Any]:
    """Every visible message of a queue (deleted), in order."""
    queue = app.get_queue(name)
    out: list[Any] = []
    while batch := queue.receive(10):
        out += batch
        queue.delete_batch(batch)
    return out


def bodies(app: App, name: str) -> list[Any]:
    return [m.body for m in drain(app, name)]
