"""The gateway as a runtime role: uvicorn serving the app's routes in a thread of the runtime."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import uvicorn

from overcast.errors import ConfigError

if TYPE_CHECKING:
    from overcast.app import App

log = logging.getLogger("overcast.gateway")


class GatewayServer:
    """Serves ``app``'s gateway on ``host:port`` until stopped (start/stop/join, as every role)."""

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 8000) -> None:
        from overcast.gateway.asgi import build_asgi

        config = uvicorn.Config(build_asgi(app), host=host, port=port, log_level="warning",
                                access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.host, self.port = host, port
        self._thread = threading.Thread(target=self.server.run, name="gateway", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self._thread.is_alive():
                raise ConfigError(f"the gateway could not listen on {self.host}:{self.port} (is the port taken?)")
            if time.monotonic() > deadline:
                raise ConfigError(f"the gateway did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        log.info("gateway listening on http://%s:%d", self.host, self.port)

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with port 0)."""
        for server in self.server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.port

    def stop(self) -> None:
        self.server.should_exit = True

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


def gateway_roles(app: App) -> list[GatewayServer]:
    """The runtime role factory: a server when the app has routes and serving is on."""
    if not app.routes or not app.serve_gateway:
        return []
    server = GatewayServer(app, app.gateway_host, app.gateway_port)
    app.gateway_server = server
    return [server]
