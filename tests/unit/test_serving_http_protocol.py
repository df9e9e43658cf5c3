"""The service's HTTP protocol sends a fixed-length response's head and body in one write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from greenscore.serving.http_protocol import GuardedHttpToolsProtocol


class _Transport(asyncio.Transport):
    """Records what the protocol writes, each call apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _fixed(scope: Any, receive: Any, send: Any) -> None:
    body = b'{"ok":true}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
        }
    )
    await send({"type": "http.response.body", "body": body if scope["method"] != "HEAD" else b""})


async def _streamed(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"part one ", "more_body": True})
    await send({"type": "http.response.body", "body": b"part two"})


async def _exchange(app: Any, request: bytes) -> list[bytes]:
    config = Config(app=app, log_level="warning", lifespan="off")
    protocol = GuardedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    transport = _Transport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(100):
        await asyncio.sleep(0)
        if protocol.cycle is not None and protocol.cycle.response_complete:
            break
    protocol.connection_lost(None)
    return transport.writes


@pytest.mark.anyio
async def test_a_fixed_length_response_leaves_in_one_write() -> None:
    writes = await _exchange(_fixed, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert len(writes) == 1, writes
    head, _, body = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length: 11" in head
    assert body == b'{"ok":true}'


@pytest.mark.anyio
async def test_two_requests_on_one_connection_get_one_write_each() -> None:
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    writes = await _exchange(_fixed, request + request)
    assert [w.count(b"HTTP/1.1 200") for w in writes] == [1, 1]
    assert all(w.endswith(b'{"ok":true}') for w in writes)


@pytest.mark.anyio
async def test_a_head_request_still_gets_its_head() -> None:
    writes = await _exchange(_fixed, b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 200")
    assert writes[0].endswith(b"\r\n\r\n")


@pytest.mark.anyio
async def test_a_streamed_response_sends_its_head_at_once() -> None:
    writes = await _exchange(_streamed, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert writes[0].startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in writes[0]
    assert writes[0].endswith(b"\r\n\r\n")  # the head alone, before any chunk
    assert b"part one" in writes[1] and b"part two" in b"".join(writes[2:])
