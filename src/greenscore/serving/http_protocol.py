"""uvicorn's httptools protocol with a deadline and a size limit on request headers.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but puts no limit on
how long a client may take to send a request line and headers, nor, with httptools, on
how many header bytes it may send: a client that opens connections and trickles header
bytes ("slowloris") holds them, and memory, forever. This protocol closes a connection
whose headers are not complete ``serving.header_timeout_seconds`` after it opened (or
after its previous response), and answers 431 to headers over :data:`MAX_HEADER_BYTES`.
The body has its own deadline (``serving.body_timeout_seconds``, in
:class:`~greenscore.serving.request_guard.RequestGuard`).

``greenscore serve`` passes it to uvicorn as ``http=PROTOCOL``.
"""

from __future__ import annotations

import asyncio
from typing import Any

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


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with a header deadline and a header size limit."""

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
