"""A gunicorn process that cannot build its runtime says why in one line and stops every process, where any other
exception would be a traceback (what serve checks before forking can still fail after, the database gone)."""

import pytest
from gunicorn.errors import AppImportError

from bot import web
from bot.settings import Settings
from bot.slack.app import StartupError
from tests.fakes.worker import ENCRYPTION_KEY


def test_a_process_that_cannot_start_says_so_in_one_line(monkeypatch):
    def gone(*_args, **_kwargs):
        raise StartupError("DATABASE_URL: cannot use the database (OperationalError)")

    monkeypatch.setattr(web, "build_runtime", gone)
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-1-unit",
        slack_signing_secret="signing-1",
        bot_encryption_key=ENCRYPTION_KEY,
    )
    with pytest.raises(AppImportError) as refused:
        web.WebServer(settings, identity=None).load()
    assert str(refused.value) == "cannot start: DATABASE_URL: cannot use the database (OperationalError)"
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
