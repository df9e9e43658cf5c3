"""Structured logging: JSON lines when stderr is not a terminal, readable text when it is.

Log records carry extra fields (``logger.info("fit done", extra={"model": "lightgbm"})``)
straight into the JSON object, so logs stay machine-searchable in production.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line with time, level, logger, message and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def configure_logging(level: str = "WARNING", *, json_output: bool | None = None) -> None:
    """Set up the ``greenscore`` logger once.

    Parameters
    ----------
    level : str
        Logging level name.
    json_output : bool, optional
        Force JSON (True) or text (False); by default JSON unless stderr is a terminal.
    """
    if json_output is None:
        json_output = not sys.stderr.isatty()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_output else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("greenscore")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def get_logger(name: str) -> logging.Logger:
    """Return a logger under the ``greenscore`` namespace."""
    return logging.getLogger(name if name.startswith("greenscore") else f"greenscore.{name}")
