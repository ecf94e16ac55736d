"""The Heroku Button: app.json as Heroku's schema describes it, with every setting, and what it generates
working as the bot's key."""

import json
import secrets
from pathlib import Path

import jsonschema
import pytest

from bot.settings import Settings, load_settings
from bot.storage.keybox import KeyBox

REPO = Path(__file__).resolve().parents[2]
APP = json.loads((REPO / "app.json").read_text())
# Set by Heroku itself: the add-on, the dyno, the router.
SET_BY_HEROKU = {"DATABASE_URL", "DYNO", "PORT"}


def test_app_json_is_valid_for_heroku():
    schema = json.loads((REPO / "tests" / "schemas" / "heroku-app-json.schema.json").read_text())
    jsonschema.validate(APP, schema)


def test_app_json_declares_every_setting_with_a_description():
    declared = set(APP["env"])
    assert declared == {name.upper() for name in Settings.model_fields} - SET_BY_HEROKU
    assert all(len(variable["description"]) > 20 for variable in APP["env"].values())


def test_the_button_runs_the_worker_on_postgresql():
    assert APP["formation"]["worker"]["quantity"] == 1 and APP["formation"]["web"]["quantity"] == 0
    assert "worker: python -m bot" in (REPO / "Procfile").read_text()
    assert [addon["plan"].split(":")[0] for addon in APP["addons"]] == ["heroku-postgresql"]
    assert APP["env"]["BOT_ENCRYPTION_KEY"]["generator"] == "secret"


@pytest.fixture
def heroku_form(monkeypatch, tmp_path):
    """The environment a Heroku Button deploy leaves: required values filled, optional ones empty."""
    monkeypatch.chdir(tmp_path)
    for name in APP["env"]:
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-heroku")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-heroku")
    monkeypatch.setenv("BOT_ENCRYPTION_KEY", secrets.token_hex(32))  # what generator "secret" makes
    monkeypatch.setenv("DATABASE_URL", "postgres://u:pw@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d1")
    monkeypatch.setenv("DYNO", "worker.1")


def test_what_the_button_leaves_is_a_bot_that_starts(heroku_form):
    settings = load_settings()
    assert settings.paused_poll_seconds == 60 and settings.truedy_api_keys == {}  # empty reads as unset
    keybox = KeyBox(settings.bot_encryption_key.get_secret_value())
    assert keybox.open(keybox.seal("truedy_secret")) == "truedy_secret"
