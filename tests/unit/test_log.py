import io
import json
import logging
import sys
import threading

import pytest

from bot.log import JsonFormatter, configure_logging


def record(message: str, exc_info=None, **fields) -> logging.LogRecord:
    made = logging.LogRecord("bot.test", logging.INFO, __file__, 1, message, None, exc_info)
    made.fields = fields
    return made


def test_lines_are_json_with_their_fields():
    line = json.loads(JsonFormatter([]).format(record("resume attempt", event="resume_attempt", latency_ms=3)))
    assert line["message"] == "resume attempt"
    assert line["event"] == "resume_attempt" and line["latency_ms"] == 3
    assert line["level"] == "info" and line["ts"].endswith("Z")


def test_known_secrets_and_token_shapes_are_redacted_everywhere():
    formatter = JsonFormatter(["my-odd-secret-value"])
    try:
        raise ValueError("key truedy_AbCdEf1234567890 rejected, token xoxb-123-456-abc")
    except ValueError:
        import sys

        text = formatter.format(
            record(
                "saw my-odd-secret-value and xapp-1-A0-99",
                exc_info=sys.exc_info(),
                header="Bearer truedy_AbCdEf1234567890",
            )
        )
    for secret in ("my-odd-secret-value", "truedy_AbCdEf1234567890", "xoxb-123-456-abc", "xapp-1-A0-99"):
        assert secret not in text
    assert json.loads(text)["message"] == "saw [redacted] and [redacted]"


@pytest.mark.parametrize(
    "token",
    [
        "xoxb-1234-5678-AbCdEf",  # bot
        "xoxp-1234-5678-AbCdEf",  # user
        "xapp-1-A0123-456-abcdef",  # app-level
        "xwfp-T0BOT0001-8f3a9c2e71d04b55",  # a workflow step's own token (function_executed's bot_access_token)
        "xoxe.xoxp-1-Mi0yLTE2OTk3",  # a rotating user token
        "xoxe-1-My0xLTE2OTk3",  # a refresh token
        "xoxr-1234-abcdef",
        "xoxs-1234-abcdef",
        "xoxc-1234-abcdef",
        "xoxd-AbCdEf1234",
        "xoxa-2-1234-abcdef",
    ],
)
def test_every_kind_of_slack_token_is_redacted_by_its_shape(token):
    text = JsonFormatter([]).format(record(f"token={token}&next", header=f"Bearer {token}"))
    assert token not in text and "token=[redacted]&next" in text


def test_an_exception_nothing_caught_is_one_json_line_too(monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    written = io.StringIO()
    configure_logging("INFO", ["xoxb-secret-1"], stream=written)

    def fail() -> None:
        raise RuntimeError("broken with xoxb-secret-1")

    thread = threading.Thread(target=fail)
    thread.start()
    thread.join()
    (line,) = [json.loads(text) for text in written.getvalue().splitlines()]
    assert line["event"] == "uncaught" and "RuntimeError: broken with [redacted]" in line["exception"]
