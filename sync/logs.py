"""Logging with every secret redacted, on every handler, whatever the level."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from connectors.http import redact


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
            record.msg = f"{record.msg}\n{redact(formatted)}"
        return True


def setup_logging(level: str = "INFO", log_file: Path | None = None) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(fmt)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level)
    # the client libraries log request URLs and headers at DEBUG; they pass through the same filter.
    # urllib3.connectionpool by name too: hubspot-api-client sets "urllib3" to WARNING when it builds a client.
    for name in ("urllib3", "urllib3.connectionpool", "hubspot", "simple_salesforce", "requests"):
        logging.getLogger(name).setLevel(max(logging.getLevelName(level), logging.DEBUG))
