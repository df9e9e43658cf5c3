"""The one scoring runtime: raw applicants -> model matrix -> PD, points and exact contributions.

Serving, batch jobs, ``greenscore score`` and ``explain`` all score with a
:class:`ScoringRuntime` built from the bundle: applicants are encoded once, and the PD and
the contributions behind reason codes come from the same matrix (see
:mod:`greenscore.models.runtime.runtime`).
"""

from greenscore.models.runtime.features import MatrixLayout, NotCompilableError
from greenscore.models.runtime.probes import probe_rows
from greenscore.models.runtime.runtime import Encoded, Scored, ScoredFrame, ScoringRuntime

__all__ = [
    "Encoded",
    "MatrixLayout",
    "NotCompilableError",
    "Scored",
    "ScoredFrame",
    "ScoringRuntime",
    "probe_rows",
]
