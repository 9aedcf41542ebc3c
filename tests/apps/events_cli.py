"""An app declaring buses, rules, archives, topics and schedules (queue targets only): for the
CLI acceptance tests."""

from __future__ import annotations

from overcast import App
from overcast.services.bus import Target

app = App("events-cli")
app.queue("big-orders")
app.queue("audit")
app.queue("alerts")
app.queue("reports")
orders = app.bus("orders")
orders.rule("big", {"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}], "currency": ["EUR", "USD"]}},
            targets=[Target.queue("big-orders")], description="orders over 100")
orders.rule("all", {"source": ["shop"]}, targets=[Target.queue("audit", input_path="$.detail")])
orders.archive("all-orders", retention_days=30)
news = app.topic("news")
news.subscribe("queue", "alerts", filter_policy={"kind": ["alert"]}, raw=True)
app.schedule("nightly", "cron(0 2 * * ? *)", Target.queue("reports"), payload={"report": "daily"},
             timezone="Europe/Paris")
