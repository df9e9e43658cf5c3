"""uvicorn's httptools protocol with a deadline and a size limit on request headers.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but puts no limit on
how long a client may take to send a request line and headers, nor, with httptools, on
how many header bytes it may send: a client that opens connections and trickles header
bytes ("slowloris") holds them, and memory, forever. This protocol closes a connection
whose headers are not complete ``serving.header_timeout_seconds`` after it opened (or
after its previous response), and answers 431 to headers over :data:`MAX_HEADER_BYTES`.
The body has its own deadline (``serving.body_timeout_seconds``, in
:class:`~greenscore.serving.request_guard.RequestGuard`).

It also sends a response of known length in one write: uvicorn writes the status line
and headers, then the body, each with its own ``send`` call, so every answer crossed the
network (and, on loopback, the kernel's TCP path on both ends) as two segments. A
response's head is held until its body's first bytes and leaves with them
(:class:`_HeadWithBody`); a chunked (streamed) response, or one with no body to send (a
``HEAD``), sends its head as before.

``greenscore serve`` passes it to uvicorn as ``http=PROTOCOL``.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from greenscore.config import get_settings

#: The import string uvicorn's ``http`` option takes.
PROTOCOL = "greenscore.serving.http_protocol:GuardedHttpToolsProtocol"
#: Most bytes of request line and headers (h11's default is 16 KiB; tokens fit in 64).
MAX_HEADER_BYTES = 64 * 1024
HEADERS_TOO_LARGE = "request headers are over {limit} bytes"
#: Seconds a refused connection stays half-open so the client reads the 431 before the
#: close (closing with its unread bytes would reset the connection and lose the answer).
LINGER_SECONDS = 1.0


class _HeadersTooLarge(Exception):
    """Raised inside the parser to stop it; answered 431."""


class _HeadWithBody:
    """A request cycle's transport that holds a fixed-length response's head for its body.

    uvicorn's cycle marks the response started, then writes the head: that write is held
    when the response has a ``content-length`` (its body follows at once); the next write
    sends head and body together. Anything else -- a ``100 Continue`` before the response,
    a chunked head, later body chunks -- passes through. :meth:`flush` sends a held head
    that no body followed (a ``HEAD`` request); closing flushes first.
    """

    __slots__ = ("_transport", "_cycle", "_held", "_head_seen")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle
        self._held: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif not self._head_seen and self._cycle.response_started:
            self._head_seen = True
            if self._cycle.chunked_encoding is False:  # a content-length: the body follows
                self._held = bytes(data)
                return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held head."""
        if self._held is not None:
            held, self._held = self._held, None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with a header deadline, a header size limit, and a
    response's head sent with its body."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().serving.header_timeout_seconds
        self._header_timer: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._too_large = False
        self._refused = False
        # Requests whose headers are complete, and responses sent: equal while the
        # connection waits for the headers of its next request.
        self._headers_done = 0
        self._responses_done = 0

    # --------------------------------------------------------------- deadline
    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._headers_done == self._responses_done and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._headers_done += 1
        self._disarm()
        super().on_headers_complete()
        cycle = self.cycle  # this request's (a pipelined one's too: made just now)
        if cycle is not None and cycle.transport is self.transport:
            transport = _HeadWithBody(self.transport, cycle)
            done = cycle.on_response

            def on_response() -> None:
                transport.flush()  # a head with no body written (HEAD) goes now
                done()

            # Duck-typed: the cycle calls write, close and is_closing (the rest delegates).
            cycle.transport = cast(asyncio.Transport, transport)
            cycle.on_response = on_response

    def on_response_complete(self) -> None:
        self._responses_done += 1
        super().on_response_complete()
        # A pipelined request may already have its headers; otherwise wait for the next.
        if self._headers_done == self._responses_done and not self.transport.is_closing():
            self._arm()

    # --------------------------------------------------------------- size
    def on_message_begin(self) -> None:
        self._header_bytes = 0
        super().on_message_begin()

    def _count(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_HEADER_BYTES:
            self._too_large = True
            raise _HeadersTooLarge

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def data_received(self, data: bytes) -> None:
        if self._refused:  # answered 431: what else comes is dropped until the close
            return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        if not self._too_large:
            super().send_400_response(msg)
            return
        self._refused = True
        self._disarm()
        body = HEADERS_TOO_LARGE.format(limit=MAX_HEADER_BYTES).encode("ascii")
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n"
            b"connection: close\r\n\r\n" + body
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
