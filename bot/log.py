"""One JSON object per log line, with every known secret and anything shaped like a token blanked out."""

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable
from typing import TextIO

# Tokens, keys, and Slack's response URLs and webhooks (whoever has one can post with it). Slack's tokens: bot
# (xoxb-), user (xoxp-), legacy and session ones (xoxa-, xoxs-, xoxc-, xoxd-), refresh and rotating ones
# (xoxr-, xoxe-, xoxe.xoxp-), app-level (xapp-), a workflow step's own (xwfp-).
# A Truedy key has a digit in it (the bot's own outcome names, `truedy_unreachable`, have none). No word boundary
# before them: after an escape (`\n`, `\t` in a traceback's source line or a JSON string) a
# token follows a letter; blanking a little too much beats logging one.
_TOKEN_SHAPES = re.compile(
    r"((?:xox[a-z](?:\.xox[a-z])?|xapp|xwf[a-z])-[A-Za-z0-9-]+|truedy_(?=[A-Za-z]*[0-9])[A-Za-z0-9]{8,})"
    r"|https://hooks\.slack\.com/[^\s\"']+"
)
# Loggers whose lines may carry a whole request ("Invalid request signature detected (… body: …)",
# "Unhandled request ({…})", and every payload at DEBUG).
_PAYLOAD_LOGGERS = ("slack_bolt", "slack_sdk")
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
        # Each value before encoding (JSON writes a newline as `\n`, after which a token no longer starts a word),
        # and the line after it too (a value of another type, rendered by `default=str`).
        line = {name: self.redact(value) if isinstance(value, str) else value for name, value in line.items()}
        return self.redact(json.dumps(line, default=str))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return redact_token_shapes(text)


def redact_token_shapes(text: str) -> str:
    return _TOKEN_SHAPES.sub(REDACTED, text)


class WithoutPayloads(logging.Filter):
    """Slack's libraries' lines keep what they say happened, never what a request carried: their DEBUG lines
    go, and of the others only the words before the first parenthesis, brace or colon stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_PAYLOAD_LOGGERS):
            return True
        if record.levelno < logging.INFO:
            return False
        record.msg, record.args = re.split(r"[({:\n]", record.getMessage(), maxsplit=1)[0].strip()[:200], None
        return True


def configure_logging(level: str, secrets: Iterable[str], stream: TextIO = sys.stdout) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(secrets))
    handler.addFilter(WithoutPayloads())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO, Alembic its set-up at every start; the bot's own lines say what matters
    # (the `migrated` line when a migration ran).
    for chatty in ("httpx", "alembic"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    # An exception nothing caught is a line like any other (Python would print its traceback as plain text).
    sys.excepthook = lambda kind, error, trace: _uncaught((kind, error, trace))
    threading.excepthook = lambda hook: _uncaught((hook.exc_type, hook.exc_value, hook.exc_traceback))


def _uncaught(exc_info) -> None:
    logging.getLogger("bot").error("uncaught exception", exc_info=exc_info, extra={"fields": {"event": "uncaught"}})
