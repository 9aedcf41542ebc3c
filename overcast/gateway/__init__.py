"""The HTTP gateway: routes to functions, storage-first queue routes, bus and workflow routes,
proxies to a legacy upstream (strangler), aggregates, API keys, JWT and custom authorizers.

Names load on first use: importing ``overcast`` (as every worker process does) must not pay for
the HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Function": "aggregate",
    "Upstream": "aggregate",
    "aggregate": "aggregate",
    "APIKeyAuth": "auth",
    "Authorizer": "auth",
    "Denied": "auth",
    "FunctionAuth": "auth",
    "JWTAuth": "auth",
    "KeyStore": "keys",
    "UsagePlan": "keys",
    "Request": "request",
    "Response": "request",
    "Route": "routing",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'overcast.gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"overcast.gateway.{module}"), name)
    globals()[name] = value
    return value
