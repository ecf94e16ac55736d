"""Review of what the bot writes: log lines (no token shape may survive) and the words of unattended runs."""

import io
import logging

from bot import truedy
from bot.log import configure_logging
from bot.slack.digest_message import row_after


def test_review_a_token_at_the_start_of_a_line_of_an_exception_is_redacted():
    """Defect: token shapes are redacted (`redact_token_shapes`) on the line *after* it was JSON-encoded, with a
    pattern that starts with `\\b`. JSON writes a newline as `\\n` and a tab as `\\t` (and any non-ASCII character
    as `\\uXXXX`), so a token right after one of them follows a letter or digit, `\\b` does not match, and the token
    is logged whole. Tracebacks and multi-line error messages are exactly where such text lands (an exception whose
    message carries a token on a line of its own, a refresh token xoxe-… after a newline). Promise: "every Slack token
    shape is redacted", "no secret … in any log line"."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        configure_logging("INFO", [], stream)
        try:
            raise ValueError("Slack refused the refresh token:\nxoxe-1-Mi0yLTE2MzQ1Njc4OTA")
        except ValueError:
            logging.getLogger("bot.review").exception("token rotation failed")
        try:
            raise ValueError("step token\txwfp-T0BOT0001-6d1c2e3f4a5b6c7d")
        except ValueError:
            logging.getLogger("bot.review").exception("step failed")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    logged = stream.getvalue()
    assert "Mi0yLTE2MzQ1Njc4OTA" not in logged and "6d1c2e3f4a5b6c7d" not in logged, logged


def test_review_a_digest_row_resumed_by_an_unattended_unnamed_run_names_nobody_as_a_mention():
    """Defect: a resume-all job started by a workflow run with no person and no "On behalf of" has `requested_by`
    "" (the bot's own words then say "a workflow run": `messages.requester`), but a campaign of that job alerted in a
    digest gets its row from `row_after(job.requested_by, …)` → `alert_blocks.final_state`, which writes `<@{user_id}>`:
    the row reads "*Resumed* by <@> …" (and "(<@> tried)" for failures), a broken mention in the channel. Users:
    the digest does not say who or what resumed it."""
    kind, line = row_after("", truedy.Resumed("batch_digest001", "active", None, "req_1"))
    assert kind == "resumed"
    assert "<@>" not in line, line
    _, failed = row_after("", truedy.KeyRejected("no", None))
    assert "<@>" not in failed, failed
