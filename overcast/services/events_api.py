"""The App's methods for the event bus, topics and schedules.

Mixed into ``App``; everything here only registers (no I/O at import time) and reaches the
engine through ``self.engine``, the runtime through ``self.runtime_roles``.
"""

from __future__ import annotations


class EventsAPI:
    """``app.bus()``, ``app.topic()``, ``@app.on_event``, ``@app.on_topic``, ``@app.on_schedule``."""
