"""Answers that go out before the request body was read (a 413, a 401, a 415) reach the client.

A client that does not send ``Expect: 100-continue`` (Python's ``urllib``, most SDKs) writes its
whole body before it reads a byte of the answer. If the server closes the connection with part
of that body unread, the kernel answers the rest with a reset, which destroys the answer in the
client's receive buffer: it sees "connection reset by peer", not the 413, and retries the same
body. So before such an answer starts, the rest of the body is read and thrown away, up to a
bound (``Settings.max_drain_bytes``); a body longer than that is cut off (the answer carries
``Connection: close``), so a refused body never costs more than the bound to read.

A client that asked ``Expect: 100-continue`` and has not been told to go on sends nothing more:
its body is left alone, and the early answer itself tells it not to send.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _Body:
    """What has been seen of one request's body through ``receive``."""

    __slots__ = ("declared", "done", "expects_continue", "received")

    def __init__(self, scope: Scope) -> None:
        self.declared: int | None = None  # Content-Length, when given
        self.expects_continue = False
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit():
                self.declared = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"expect":
                self.expects_continue = value.lower() == b"100-continue"
        self.done = not chunked and not self.declared  # no body at all
        self.received = 0

    def see(self, message: Message) -> None:
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
        else:  # http.disconnect: nothing more will come
            self.done = True

    def worth_draining(self, bound: int) -> bool:
        """Unread body the client is sending now, and (as far as it declared) within the bound."""
        if self.done or (self.expects_continue and self.received == 0):
            return False
        return self.declared is None or self.declared - self.received <= bound


class DrainUnreadBody:
    """Outermost layer: before a response starts, read and discard up to ``bound`` bytes of a
    body the app left unread. Requests whose bodies were read whole (every ``200``) pass
    through with one attribute check per message."""

    def __init__(self, app: ASGIApp, bound: int) -> None:
        self.app, self.bound = app, bound

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _Body(scope)
        if body.done:
            await self.app(scope, receive, send)
            return

        async def receive_seen() -> Message:
            message = await receive()
            body.see(message)
            return message

        async def send_after_drain(message: Message) -> None:
            if message["type"] == "http.response.start" and not body.done:
                if body.worth_draining(self.bound):
                    await self._drain(body, receive)
                if not body.done:  # cut off: never parse the rest as a next request
                    headers = [*message.get("headers", []), (b"connection", b"close")]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive_seen, send_after_drain)

    async def _drain(self, body: _Body, receive: Receive) -> None:
        """Read and drop the rest of the body; stop past ``bound`` bytes."""
        drained = 0
        while not body.done and drained <= self.bound:
            message = await receive()
            body.see(message)
            drained += len(message.get("body", b""))
