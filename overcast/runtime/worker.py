"""The worker process: loads the app once, then runs one invocation at a time for its parent.

Before changing: this module runs in a fresh interpreter (spawned), so it imports the user's app
module itself; everything it receives or sends crosses a pipe pickled. It ignores SIGINT: the
parent decides when workers stop, so Ctrl-C never interrupts a handler half way.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import logging
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overcast.errors import ConfigError
from overcast.runtime.context import Context

if TYPE_CHECKING:
    from overcast.app import App


@dataclass(frozen=True)
class AppLocator:
    """How another process finds the same app: its module (or file), and its name."""

    app_name: str
    module: str | None
    file: str | None
    sys_path: tuple[str, ...] = ()
    engine_url: str | None = None
    cwd: str | None = None


LOADING = False  # True while a worker imports the user's module (see App.engine)
log = logging.getLogger("overcast.worker")


class StopImport(BaseException):
    """Raised when the app's module, being imported by a worker, starts using the app (sending,
    invoking): a script's top level. The import stops there; what was declared before stays."""


def load_app(locator: AppLocator) -> App:
    """Import the app's module in this process and return the ``App`` named in the locator."""
    global LOADING
    LOADING = True
    try:
        return _load_app(locator)
    finally:
        LOADING = False


def _load_app(locator: AppLocator) -> App:
    from overcast.app import App

    for entry in reversed(locator.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    module = None
    if locator.module and locator.module != "__main__":
        try:
            module = importlib.import_module(locator.module)
        except ImportError:
            if not locator.file:
                raise
        except StopImport:
            module = sys.modules.get(locator.module)
            if module is None:
                raise ConfigError(f"module {locator.module!r} uses its app while being imported") from None
    if module is None:
        if not locator.file:
            raise ConfigError(f"cannot locate the module of app {locator.app_name!r}")
        name = "__overcast_main__"
        spec = importlib.util.spec_from_file_location(name, locator.file)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot load {locator.file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except StopImport:
            # a script that uses its app at top level: keep what it declared up to that point
            log.debug("stopped importing %s where it started using the app", locator.file)
    apps = [v for v in vars(module).values() if isinstance(v, App) and v.name == locator.app_name]
    if len(apps) != 1:
        raise ConfigError(
            f"module {module.__name__!r} holds {len(apps)} apps named {locator.app_name!r}; "
            "declare the App once at module level"
        )
    return apps[0]


def worker_main(conn: Connection, locator: AppLocator) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if locator.cwd:
        os.chdir(locator.cwd)
    if locator.engine_url:
        os.environ["OVERCAST_ENGINE"] = locator.engine_url
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        app = load_app(locator)
    except BaseException as exc:  # report any failure to load, then exit
        conn.send(("startup_error", type(exc).__name__, str(exc), traceback.format_exc()))
        return
    conn.send(("ready", os.getpid()))
    loop: asyncio.AbstractEventLoop | None = None
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "stop":
            return
        _, invocation_id, function_name, event, timeout, attempt = message[:6]
        idempotency_key = message[6] if len(message) > 6 else None
        fn = app.functions.get(function_name)
        if fn is None:
            conn.send(("error", "FunctionNotFound", f"no function named {function_name!r} in the app", ""))
            continue
        context = Context(
            invocation_id=invocation_id,
            function_name=function_name,
            timeout=timeout,
            deadline=time.monotonic() + timeout,
            attempt=attempt,
            idempotency_key=idempotency_key,
            logger=logging.getLogger(f"overcast.function.{function_name}"),
        )
        try:
            args: tuple[Any, ...] = (event, context) if fn.takes_context else (event,)
            if fn.is_async:
                if loop is None:
                    loop = asyncio.new_event_loop()
                result = loop.run_until_complete(fn.handler(*args))
            else:
                result = fn.handler(*args)
            if fn.json_result:  # gateway handlers may also return bytes and Response objects
                try:
                    json.dumps(result)
                except (TypeError, ValueError) as exc:
                    raise TypeError(f"the handler returned a value that is not JSON: {exc}") from None
            conn.send(("ok", result))
        except BaseException as exc:  # a handler's failure is reported, never fatal to the worker
            # leave this module's own frame out: the user's code starts the traceback
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None))
            conn.send(("error", type(exc).__name__, str(exc), tb))


def bootstrap_path() -> str:
    """The directory holding the overcast package (so a worker imports the same code)."""
    return str(Path(__file__).resolve().parents[2])
