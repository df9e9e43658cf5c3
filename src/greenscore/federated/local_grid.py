"""An in-process Flower ``Grid``: the simulation engine of ``greenscore federate simulate``.

Flower's own simulation engine runs ClientApps in Ray actors. On the 2-core machines this
project runs on, starting Ray took 55-85 s of wall time for two trivial clients (ADR
0001), longer than a whole 5-lender federation of small models, and Ray is a 220 MB
dependency. This grid implements Flower's public :class:`flwr.serverapp.Grid` interface
for ClientApps living in this process: the ServerApp, the strategies, the mods and the
ClientApp are exactly the objects a real deployment runs; only the transport differs.

Every message crosses a serialisation boundary as it would on the wire (Flower's own
protobuf serde, both ways), so a ClientApp can never share objects with the server, and
the byte counts of :class:`~greenscore.federated.metering.MeteredGrid` are those of the
messages a SuperLink would carry. Lenders run one after another, which also makes each
lender's energy reading its own (CodeCarbon measures the machine).

A lender can be made unreliable with an availability probability: a message to it then
fails, as one to an unreachable SuperNode does, with a ``NODE_UNAVAILABLE`` error reply.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from flwr.app import Context, Error, Message, RecordDict, UserConfigValue
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.common.serde import message_from_proto, message_to_proto
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from greenscore.logging import get_logger

log = get_logger(__name__)

UNAVAILABLE = "lender '{lender}' did not answer (simulated unavailability)"


@dataclass
class LocalNode:
    """One simulated SuperNode: a lender's ClientApp and its long-lived context."""

    node_id: int
    lender: str
    context: Context
    availability: float = 1.0


@dataclass
class LocalGrid(Grid):
    """A Grid whose nodes are ClientApps in this process (see the module docstring).

    Parameters
    ----------
    client_app : ClientApp
        The app every node runs.
    node_configs : mapping of lender name to its node config
        What a SuperNode's ``--node-config`` would hold (data path, home, ...).
    run_config : mapping
        The run's configuration, as ``flwr run --run-config`` passes it.
    availability : mapping of lender name to probability, optional
        Chance that a lender answers a message; default 1.
    seed : int
        Seed of the availability draws.
    """

    client_app: ClientApp
    node_configs: Mapping[str, Mapping[str, UserConfigValue]]
    run_config: Mapping[str, UserConfigValue] = field(default_factory=dict)
    availability: Mapping[str, float] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        self._run = Run.create_empty(run_id=int(uuid.uuid4().int % (1 << 62)))
        self._run.override_config = dict(self.run_config)
        # Messages take their sender from the process's task identity; in this process the
        # ServerApp is the task, as in a flwr-serverapp process (Flower's compat runner
        # sets the same three values).
        TaskIdentity.task_id = 1
        TaskIdentity.run_id = self._run.run_id
        TaskIdentity.node_id = SUPERLINK_NODE_ID
        self.nodes: dict[int, LocalNode] = {}
        for k, (lender, config) in enumerate(self.node_configs.items()):
            node_id = 1000 + k
            context = Context(
                run_id=self._run.run_id,
                node_id=node_id,
                node_config=dict(config),
                state=RecordDict(),
                run_config=dict(self.run_config),
            )
            self.nodes[node_id] = LocalNode(
                node_id, lender, context, float(self.availability.get(lender, 1.0))
            )
        self._replies: dict[str, Message] = {}

    # ---------------------------------------------------------------- Grid API
    def set_run(self, run: Run) -> None:
        """Adopt ``run`` (its id goes into every message)."""
        self._run = run

    @property
    def run(self) -> Run:
        """The run this grid serves."""
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        """A message to ``dst_node_id`` (Flower prefers the ``Message`` constructor)."""
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        """Every simulated node (an unavailable one fails when messaged, as in life)."""
        return list(self.nodes)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver each message to its node now; the replies wait to be pulled."""
        ids = []
        for message in messages:
            message_id = uuid.uuid4().hex
            message.metadata.__dict__["_message_id"] = message_id
            message.metadata.__dict__["_run_id"] = self._run.run_id
            message.metadata.__dict__["_src_node_id"] = SUPERLINK_NODE_ID
            self._replies[message_id] = self._deliver(message)
            ids.append(message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """The replies to ``message_ids`` (each handed out once)."""
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Deliver and collect the replies (delivery is synchronous, so no waiting)."""
        return self.pull_messages(self.push_messages(messages))

    # ---------------------------------------------------------------- delivery
    def lender_of(self, node_id: int) -> str:
        """The lender a node id stands for."""
        return self.nodes[node_id].lender

    def _deliver(self, message: Message) -> Message:
        # Through the wire format both ways: the ClientApp gets its own copy, and mods
        # that edit a message (secaggplus_mod pops its stage) cannot touch the server's.
        delivered = message_from_proto(message_to_proto(message))
        delivered.metadata.delivered_at = str(time.time())
        node = self.nodes.get(message.metadata.dst_node_id)
        if node is None:
            reply = Message(
                Error(code=ErrorCode.NODE_UNAVAILABLE, reason="unknown node"), reply_to=delivered
            )
        elif node.availability < 1.0 and self._rng.random() >= node.availability:
            reply = Message(
                Error(
                    code=ErrorCode.NODE_UNAVAILABLE, reason=UNAVAILABLE.format(lender=node.lender)
                ),
                reply_to=delivered,
            )
        else:
            try:
                reply = self.client_app(delivered, node.context)
            except Exception as exc:  # a ClientApp failure is an error reply, as in Flower
                log.warning(
                    "client app failed",
                    extra={
                        "lender": node.lender,
                        "error": repr(exc),
                        "trace": traceback.format_exc(),
                    },
                )
                reason = f"{type(exc).__name__}: {exc}"
                reply = Message(
                    Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason),
                    reply_to=delivered,
                )
        return message_from_proto(message_to_proto(reply))
