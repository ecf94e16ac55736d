"""One JSON object per log line, with every known secret and anything shaped like a token blanked out."""

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import TextIO

_TOKEN_SHAPES = re.compile(r"\b(xox[abpre]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|truedy_[A-Za-z0-9]{8,})")
REDACTED = "[redacted]"


class JsonFormatter(logging.Formatter):
    converter = time.gmtime

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        # Longest first, so a secret that contains another is blanked whole.
        self._secrets = sorted({secret for secret in secrets if secret}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(line, default=str))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return redact_token_shapes(text)


def redact_token_shapes(text: str) -> str:
    return _TOKEN_SHAPES.sub(REDACTED, text)


def configure_logging(level: str, secrets: Iterable[str], stream: TextIO = sys.stdout) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO, Alembic its set-up at every start; the bot's own lines say what matters
    # (the `migrated` line when a migration ran).
    for chatty in ("httpx", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
