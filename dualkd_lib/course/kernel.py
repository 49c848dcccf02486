"""The Jupyter kernel client of the headless notebook runs (``dualkd course``, the notebook tests).

nbclient waits for a cell's reply with one long poll on the kernel client's shell channel (and
for its output with one endless poll on the IOPub channel). Seen here on 2-core machines, busy
or not: after a cell that opens ipywidgets (many ``comm_open`` messages at once) that long poll
sometimes never wakes, although the kernel has answered and sits idle (the reply waits in the
socket; nbclient issue #312 reports the same). A fresh poll looks at the socket afresh, so
:class:`SlicedWaitChannel` waits in polls of at most :data:`POLL_SECONDS` until the caller's
own timeout. Used by :func:`dualkd_lib.course.run_notebooks`; explained in notebook 00.
"""

from __future__ import annotations

import time
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

#: Longest single poll of a channel (s); the caller's timeout still applies to the whole wait.
POLL_SECONDS: float = 1.0


class SlicedWaitChannel(AsyncZMQSocketChannel):
    """An async ZMQ channel whose ``get_msg`` waits in short polls instead of one long one."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message; ``timeout`` (s, ``None``: no limit) bounds the whole wait, raising ``Empty``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SECONDS if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await super().get_msg(timeout=min(POLL_SECONDS, left))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedWaitKernelClient(AsyncKernelClient):
    """nbclient's usual async kernel client, with :class:`SlicedWaitChannel` for shell and IOPub."""

    shell_channel_class = Type(SlicedWaitChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(SlicedWaitChannel)  # type: ignore[assignment]
