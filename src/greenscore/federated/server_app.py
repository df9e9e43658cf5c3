"""The federation's Flower ServerApp: read the plan from the run config, run every phase.

``flwr run`` (through ``greenscore federate server``) starts it in a ``flwr-serverapp``
process beside the SuperLink; ``greenscore federate simulate`` calls
:func:`~greenscore.federated.federation.run_federation` with its in-process grid.
"""

from __future__ import annotations

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from greenscore.federated.federation import run_federation
from greenscore.federated.plan import FederationPlan

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run the federation the run config describes."""
    run_federation(grid, FederationPlan.from_run_config(dict(context.run_config)))
