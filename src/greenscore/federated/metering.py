"""Bytes on the wire: a Grid wrapper that counts what each phase of a federation sends.

Every message the ServerApp sends and every reply it receives is measured as Flower
serialises it (its protobuf size), whichever grid carries it: the in-process one of a
simulation or the SuperLink's in a deployment. The orchestrator names the phase
(``round-3``, ``scorecard-histograms``) before sending; :attr:`MeteredGrid.usage` then
holds the bytes down (server to lenders) and up (lenders to server) per phase.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from flwr.app import Message, RecordDict
from flwr.common.serde import message_to_proto
from flwr.serverapp import Grid
from flwr.supercore.run import Run


def message_bytes(message: Message) -> int:
    """Serialised size of one message (metadata, content or error)."""
    return int(message_to_proto(message).ByteSize())


class MeteredGrid(Grid):
    """Delegate to ``inner`` and count bytes per phase (see the module docstring)."""

    def __init__(self, inner: Grid) -> None:
        self.inner = inner
        self.phase = "setup"
        self.usage: dict[str, dict[str, int]] = defaultdict(
            lambda: {"bytes_down": 0, "bytes_up": 0, "messages": 0, "replies": 0}
        )

    def _down(self, messages: list[Message]) -> None:
        entry = self.usage[self.phase]
        entry["bytes_down"] += sum(message_bytes(m) for m in messages)
        entry["messages"] += len(messages)

    def _up(self, replies: list[Message]) -> None:
        entry = self.usage[self.phase]
        entry["bytes_up"] += sum(message_bytes(m) for m in replies)
        entry["replies"] += len(replies)

    def set_run(self, run: Run) -> None:
        """Delegate."""
        self.inner.set_run(run)

    @property
    def run(self) -> Run:
        """Delegate."""
        return self.inner.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        """Delegate."""
        return self.inner.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        """Delegate."""
        return self.inner.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Count, then delegate."""
        messages = list(messages)
        self._down(messages)
        return self.inner.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Delegate, then count."""
        replies = list(self.inner.pull_messages(message_ids))
        self._up(replies)
        return replies

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Count both ways around the inner grid's own send-and-receive."""
        messages = list(messages)
        self._down(messages)
        replies = list(self.inner.send_and_receive(messages, timeout=timeout))
        self._up(replies)
        return replies

    def total(self, prefix: str = "") -> dict[str, int]:
        """Bytes and messages summed over the phases whose name starts with ``prefix``."""
        out = {"bytes_down": 0, "bytes_up": 0, "messages": 0, "replies": 0}
        for phase, entry in self.usage.items():
            if phase.startswith(prefix):
                for key in out:
                    out[key] += entry[key]
        return out
