"""The headless runs' kernel client waits in short polls (a long poll was seen to miss a reply)."""
from __future__ import annotations

import asyncio
from queue import Empty

import pytest
import zmq
import zmq.asyncio
from jupyter_client.channels import AsyncZMQSocketChannel


from dualkd_lib.course import kernel as notebook_kernel, run
from dualkd_lib.course.kernel import SlicedWaitChannel, SlicedWaitKernelClient


def _fake_polls(monkeypatch: pytest.MonkeyPatch, answer_on_call: int | None) -> list[float | None]:
    """Replace the parent's single poll: Empty after waiting ``timeout``, a message on call ``answer_on_call``."""
    calls: list[float | None] = []

    async def one_poll(self, timeout=None):
        calls.append(timeout)
        if answer_on_call is not None and len(calls) == answer_on_call:
            return {"msg_type": "execute_reply"}
        await asyncio.sleep(timeout)
        raise Empty

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", one_poll)
    monkeypatch.setattr(notebook_kernel, "POLL_SECONDS", 0.01)
    return calls


def _channel() -> SlicedWaitChannel:
    return SlicedWaitChannel(zmq.asyncio.Context.instance().socket(zmq.DEALER), None)


def test_a_long_wait_is_made_of_short_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_polls(monkeypatch, answer_on_call=5)
    channel = _channel()
    msg = asyncio.run(channel.get_msg(timeout=None))  # no limit: polls until the message comes
    assert msg == {"msg_type": "execute_reply"}
    assert len(calls) == 5 and all(t == 0.01 for t in calls)


def test_the_callers_timeout_still_bounds_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_polls(monkeypatch, answer_on_call=None)
    channel = _channel()
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=0.05))
    assert 3 <= len(calls) <= 8 and all(0 <= t <= 0.01 for t in calls)
    calls.clear()
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=0))  # a check without waiting: one poll
    assert calls == [0]


def test_notebook_runs_use_the_sliced_wait_client() -> None:
    km = run._kernel_manager()
    assert km.client_factory is SlicedWaitKernelClient
    assert SlicedWaitKernelClient.shell_channel_class.default_value is SlicedWaitChannel
    assert SlicedWaitKernelClient.iopub_channel_class.default_value is SlicedWaitChannel
