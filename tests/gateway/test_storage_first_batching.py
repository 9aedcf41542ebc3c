"""Storage-first sends that arrive together share one commit, and each request still gets its
own answer: its message id after the commit, or its own error."""

from __future__ import annotations

import asyncio

import pytest

from overcast import App
from overcast.errors import QueueNotFound
from overcast.gateway.asgi import SendBatcher


def test_concurrent_sends_share_a_commit_and_each_gets_its_id(engine_url: str) -> None:
    app = App("batching", engine=engine_url)
    inbox = app.queue("inbox")
    inbox.stats()  # declared queues are created on first use
    batcher = SendBatcher(app)

    async def burst() -> list[str]:
        return await asyncio.gather(*[batcher.send(inbox, {"n": i}, {"request_id": f"r{i}"}) for i in range(20)])

    try:
        ids = asyncio.run(burst())
        assert len(set(ids)) == 20
        assert batcher.commits == 1  # all twenty were queued before the loop's next turn
        got = {}
        while len(got) < 20:
            for m in inbox.receive(10):
                got[m.id] = (m.body, m.attributes)
        assert got == {ids[i]: ({"n": i}, {"request_id": f"r{i}"}) for i in range(20)}
    finally:
        app.close()


def test_a_failing_send_fails_alone(engine_url: str) -> None:
    app = App("batching", engine=engine_url)
    inbox, doomed = app.queue("inbox"), app.queue("doomed")
    inbox.stats()
    doomed.stats()
    batcher = SendBatcher(app)

    async def burst() -> list[object]:
        first = doomed.prepare({"x": 1})  # the queue is there when the request is validated...
        assert first.body
        app.engine.atomic(lambda tx: tx.queue_delete("doomed"))  # ...and gone before the commit
        return await asyncio.gather(
            batcher.send(inbox, {"n": 1}, None), batcher.send(doomed, {"n": 2}, None),
            batcher.send(inbox, {"n": 3}, None), return_exceptions=True)

    try:
        ok1, failed, ok3 = asyncio.run(burst())
        assert isinstance(failed, QueueNotFound)
        assert isinstance(ok1, str) and isinstance(ok3, str)
        assert sorted(m.body["n"] for m in inbox.receive(10)) == [1, 3]
    finally:
        app.close()


def test_an_invalid_message_is_refused_before_it_waits(engine_url: str) -> None:
    app = App("batching", engine=engine_url)
    inbox = app.queue("inbox", max_message_size=1024)
    inbox.stats()
    batcher = SendBatcher(app)
    try:
        with pytest.raises(Exception, match="over the queue's maximum"):
            asyncio.run(batcher.send(inbox, "x" * 2000, None))
        assert batcher.commits == 0
    finally:
        app.close()
