"""The HTTP gateway: routes to functions, storage-first queue routes, bus and workflow routes,
proxies to a legacy upstream (strangler), aggregates, API keys, JWT and custom authorizers."""

from __future__ import annotations

from overcast.gateway.aggregate import Function, Upstream, aggregate
from overcast.gateway.auth import APIKeyAuth, Authorizer, Denied, FunctionAuth, JWTAuth
from overcast.gateway.keys import KeyStore, UsagePlan
from overcast.gateway.request import Request, Response
from overcast.gateway.routing import Route

__all__ = [
    "APIKeyAuth",
    "Authorizer",
    "Denied",
    "Function",
    "FunctionAuth",
    "JWTAuth",
    "KeyStore",
    "Request",
    "Response",
    "Route",
    "Upstream",
    "UsagePlan",
    "aggregate",
]
