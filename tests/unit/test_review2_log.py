"""Second review of the log redaction (bot/log.py), which the first review widened (no word boundary before a
token shape)."""

import json
import logging

from bot import truedy
from bot.log import JsonFormatter
from bot.resume import outcome_name


def test_review2_the_outcome_truedy_unreachable_is_logged_not_redacted():
    """Defect: the Truedy key shape `truedy_[A-Za-z0-9]{8,}` also matches the bot's own outcome name
    `truedy_unreachable` (outcome_name(TruedyUnreachable)), so every `resume_attempt` line for a resume that could
    not reach Truedy says `"outcome": "[redacted]"`, as do the audit-outcome fields of schedules and jobs. The one
    outcome an operator looks for during a Truedy outage (docs/operations.md lists `truedy_unreachable` among the
    logged outcomes) is the one the logs hide; the first review's widening of the shapes left it so."""
    outcome = outcome_name(truedy.TruedyUnreachable("no route to host", None))
    made = logging.LogRecord("bot.resume", logging.INFO, __file__, 1, "resume attempt", None, None)
    made.fields = {"event": "resume_attempt", "outcome": outcome}
    line = json.loads(JsonFormatter(["truedy_AbCdEf1234567890"]).format(made))
    assert line["outcome"] == "truedy_unreachable"
