"""The Heroku Button: app.json as Heroku's schema describes it, a short form that deploys either mode, every
setting the bot reads either in the form or left out for a reason, and README saying what comes after."""

import json
import secrets
from pathlib import Path

import jsonschema
import pytest

from bot.__main__ import main
from bot.settings import Settings, load_settings
from bot.storage.keybox import KeyBox

REPO = Path(__file__).resolve().parents[2]
APP = json.loads((REPO / "app.json").read_text())
README = (REPO / "README.md").read_text()
# Every setting the bot reads that the Deploy to Heroku form does not ask for, and why. Set later with
# `heroku config:set NAME=value -a <app>` (docs/settings.md).
LEFT_OUT = {
    "DATABASE_URL": "set by the Postgres add-on app.json declares",
    "DYNO": "set by Heroku in every dyno",
    "PORT": "set by Heroku's router for the web dyno",
    "WEB_CONCURRENCY": "set by Heroku by the web dyno's size",
    "PUBLIC_URL": "Heroku gives the app its address (<app>-<id>.herokuapp.com) only once it has created it",
    "SLACK_REDIRECT_URI": "follows from PUBLIC_URL",
    "TRUEDY_API_KEYS": "several workspaces of one org-wide token: rare, and JSON is no form field",
    "ALERT_CHANNELS": "several workspaces of one org-wide token: rare, and JSON is no form field",
    "TRUEDY_WEBHOOK_SECRET": "the shared webhook needs a web dyno, which this form does not start",
    "TRUEDY_DASHBOARD_URL": "a link on alerts: nothing depends on it at the first start",
    "SLACK_API_URL": "tests point it at the fake Slack",
    "TRUEDY_API_URL": "tests point it at the fake Truedy",
    "TRUEDY_CONNECT_TIMEOUT": "tuning knob",
    "TRUEDY_READ_TIMEOUT": "tuning knob",
    "DATABASE_POOL_SIZE": "tuning knob: its default fits the add-on's plan",
    "PAUSED_POLL_SECONDS": "tuning knob",
    "RESUME_CONCURRENCY": "tuning knob",
    "RESUME_ALL_PER_MINUTE": "tuning knob",
    "RESUME_ALL_LEASE_SECONDS": "tuning knob",
    "UNDO_MINUTES": "its default (10) suits most teams; set it afterwards to change it",
    "REMIND_AFTER_MINUTES": "its default (60) suits most teams, and each workspace's setup can set its own",
    "REMIND_MAX": "its default (5) suits most teams; set it afterwards to change it",
    "LOG_LEVEL": "tuning knob",
    "METRICS_PORT": "the worker's own port: a worker dyno takes no connections",
}
GENERATED = {"BOT_ENCRYPTION_KEY"}


def test_app_json_is_valid_for_heroku():
    schema = json.loads((REPO / "tests" / "schemas" / "heroku-app-json.schema.json").read_text())
    jsonschema.validate(APP, schema)


def test_every_setting_is_in_the_form_or_left_out_for_a_reason():
    read = {name.upper() for name in Settings.model_fields}
    asked = set(APP["env"])
    assert asked <= read, f"app.json asks for what the bot does not read: {sorted(asked - read)}"
    assert set(LEFT_OUT) <= read, f"left out, but the bot does not read them: {sorted(set(LEFT_OUT) - read)}"
    assert not asked & set(LEFT_OUT), f"both in the form and left out: {sorted(asked & set(LEFT_OUT))}"
    assert asked | set(LEFT_OUT) == read, f"neither in the form nor left out: {sorted(read - asked - set(LEFT_OUT))}"
    assert all(len(variable["description"]) > 20 for variable in APP["env"].values())


def test_the_form_requires_nothing_but_the_key_it_generates():
    """Heroku's `required` defaults to true, so every other variable says false."""
    for name, variable in APP["env"].items():
        if name in GENERATED:
            assert variable["generator"] == "secret", name
        else:
            assert variable["required"] is False and "generator" not in variable, name


def test_the_form_offers_both_modes_and_says_where_to_read_what_is_missing():
    env = APP["env"]
    assert {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"} <= set(env)  # one workspace, Socket Mode
    assert {"SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET"} <= set(env)  # installations
    assert "SLACK_CLIENT_ID" in env["SLACK_BOT_TOKEN"]["description"]
    assert "web=1 worker=0" in env["SLACK_CLIENT_ID"]["description"]
    for text in (APP["description"], env["SLACK_BOT_TOKEN"]["description"], env["SLACK_CLIENT_ID"]["description"]):
        assert "heroku logs --tail" in text


def test_the_button_runs_the_worker_on_postgresql():
    assert APP["formation"]["worker"]["quantity"] == 1 and APP["formation"]["web"]["quantity"] == 0
    assert "worker: python -m bot" in (REPO / "Procfile").read_text()
    assert [addon["plan"].split(":")[0] for addon in APP["addons"]] == ["heroku-postgresql"]


def test_no_success_url_while_no_web_dyno_would_serve_it():
    """success_url is a page of the new app; with web quantity 0 Heroku would open an error page."""
    assert "success_url" not in APP or APP["formation"]["web"]["quantity"] > 0


@pytest.fixture
def heroku_form(monkeypatch, tmp_path):
    """The environment a Heroku Button deploy leaves with the form left empty: the generated key, and what
    Heroku and the add-on set."""
    monkeypatch.chdir(tmp_path)
    for name in {name.upper() for name in Settings.model_fields}:
        monkeypatch.delenv(name, raising=False)
    for name in APP["env"]:
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("BOT_ENCRYPTION_KEY", secrets.token_hex(32))  # what generator "secret" makes
    monkeypatch.setenv("DATABASE_URL", "postgres://u:pw@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d1")
    monkeypatch.setenv("DYNO", "worker.1")
    return monkeypatch


def test_an_empty_form_deploys_and_the_logs_name_what_is_missing(heroku_form, capsys):
    assert main([]) == 2  # the worker: Heroku restarts it until the settings are there
    logged = capsys.readouterr().err
    assert "configuration error: SLACK_BOT_TOKEN: is required but not set" in logged
    assert "configuration error: SLACK_APP_TOKEN: is required but not set" in logged
    assert "BOT_ENCRYPTION_KEY" not in logged and "DATABASE_URL" not in logged


def test_the_form_filled_for_one_workspace_is_a_worker_that_starts(heroku_form):
    heroku_form.setenv("SLACK_BOT_TOKEN", "xoxb-1-heroku")
    heroku_form.setenv("SLACK_APP_TOKEN", "xapp-1-heroku")
    settings = load_settings()
    assert settings.paused_poll_seconds == 60 and settings.truedy_api_keys == {}  # empty reads as unset
    keybox = KeyBox(settings.bot_encryption_key.get_secret_value())
    assert keybox.open(keybox.seal("truedy_secret")) == "truedy_secret"


def test_the_form_filled_for_installations_is_a_web_process_that_starts(heroku_form, capsys):
    heroku_form.setenv("SLACK_CLIENT_ID", "2468013579.1357924680")
    heroku_form.setenv("SLACK_CLIENT_SECRET", "client-secret")
    heroku_form.setenv("SLACK_SIGNING_SECRET", "signing-secret")
    heroku_form.setenv("DYNO", "web.1")
    settings = load_settings(worker=False)
    assert settings.installations and settings.slack_bot_token is None
    # The worker the button also starts says so in the logs, until `heroku ps:scale web=1 worker=0`.
    heroku_form.setenv("DYNO", "worker.1")
    assert main([]) == 2
    assert capsys.readouterr().err.strip() == (
        "configuration error: SLACK_APP_TOKEN: is required but not set: an app-level token, xapp-…, with the "
        "connections:write scope (Slack app > Basic Information > App-Level Tokens)"
    )


def test_readme_says_what_comes_after_the_button_for_each_mode_and_how_to_deploy_a_fork():
    button = README.index(
        "[![Deploy to Heroku](https://www.herokucdn.com/deploy/button.svg)](https://heroku.com/deploy)"
    )
    after = README[button : README.index("**Socket Mode worker**", button)]
    for told in (
        "heroku logs --tail",
        '"worker started"',
        "/resume-campaign setup",
        "heroku ps:scale web=1 worker=0",
        "PUBLIC_URL",
        "/slack/install",
        "success_url",
        "https://heroku.com/deploy?template=https://github.com/<you>/<fork>",
    ):
        assert told in after, told
