"""The scheduler (EventBridge Scheduler semantics): rate, cron and one-time expressions with time
zones, exactly one firing per tick across processes, a policy for missed ticks.

Start at ``expressions.py`` (what a tick is), then ``scheduler.py`` (who fires it, and once).
"""

from __future__ import annotations

from overcast.services.scheduler.expressions import At, Cron, Expression, Rate, parse
from overcast.services.scheduler.scheduler import Schedule

__all__ = ["At", "Cron", "Expression", "Rate", "Schedule", "parse"]
