"""The App's methods for workflows (state machines run by the durable executor).

Mixed into ``App``; everything here only registers (no I/O at import time) and reaches the
engine through ``self.engine``, the runtime through ``self.runtime_roles``.
"""

from __future__ import annotations


class WorkflowsAPI:
    """``app.workflow()``, ``app.start_execution()`` and the execution handles."""
