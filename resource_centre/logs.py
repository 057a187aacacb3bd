"""Logging: one format for the server, its workers and the command line.

Every line reads `2026-01-15T12:00:00.123Z INFO [4242] resource_centre.auth: message`: the
time in UTC (security notes), the level, the process id (the worker), the logger name. The
access log (`web/access_log.py`) writes one line per request under `ACCESS_LOGGER`; uvicorn's
own access log is turned off (it has no duration).
"""

from __future__ import annotations

import logging
import logging.config
import sys
import time
from enum import StrEnum
from typing import Any, TextIO

ACCESS_LOGGER = "resource_centre.access"
FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


class LogLevel(StrEnum):
    """The levels offered by `--log-level`."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


class UTCFormatter(logging.Formatter):
    """`FORMAT` with ISO 8601 times in UTC, to the millisecond."""

    def __init__(self, fmt: str | None = FORMAT, datefmt: str | None = None, **_: Any) -> None:
        super().__init__(fmt=fmt, datefmt=datefmt)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time of each record (test runners swap it)."""

    def __init__(self, level: int | str = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:  # StreamHandler.setStream: ignored
        pass


def logging_config(level: str = "info") -> dict[str, Any]:
    """The `logging.config.dictConfig` mapping of the server (via uvicorn) and the CLI."""
    name = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,  # module loggers are created at import time
        "formatters": {"default": {"()": f"{__name__}.UTCFormatter"}},
        "handlers": {"stderr": {"class": f"{__name__}.StderrHandler", "formatter": "default"}},
        "root": {"level": name, "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's start-up and error messages through the root handler, in our format.
            "uvicorn": {"level": name, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": name, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # Libraries' chatter below WARNING even at --log-level debug would drown ours.
            "multipart": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
            # The S3 client at DEBUG logs request bodies and headers: whole attachments.
            "boto3": {"level": "WARNING"},
            "botocore": {"level": "WARNING"},
            "s3transfer": {"level": "WARNING"},
            "urllib3": {"level": "WARNING"},
        },
    }


def configure_cli_logging(level: str = "info") -> None:
    """Configure logging for a command, unless the host process already did (a test runner)."""
    if logging.getLogger().handlers:
        return
    logging.config.dictConfig(logging_config(level))
