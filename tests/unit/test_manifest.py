"""manifest.yml declares exactly what the code registers and needs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from jsonschema import Draft7Validator

from bot.slack import listeners
from bot.slack.blocks import list_blocks
from bot.slack.manifest import manifest

REPO = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((REPO / "manifest.yml").read_text())
SLACK_MANIFEST_SCHEMA = json.loads((REPO / "tests" / "schemas" / "slack-manifest.schema.v1.json").read_text())


def test_the_manifest_passes_slacks_own_schema():
    validator = Draft7Validator(SLACK_MANIFEST_SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)
    problems = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(MANIFEST)
    ]
    assert problems == []
    assert list(validator.iter_errors({**MANIFEST, "features": {"slash_commands": [{"command": "x"}]}}))  # it checks


class RecordingApp:
    """Stands in for Bolt's App to see what the listeners register."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.actions: list[str] = []
        self.views: list[str] = []
        self.events: list[str] = []
        self.option_loaders: list[str] = []
        self.functions: list[str] = []

    def command(self, name: str):
        self.commands.append(name)
        return lambda listener: listener

    def action(self, action_id: str):
        self.actions.append(action_id)
        return lambda listener: listener

    def view(self, callback_id: str):
        self.views.append(callback_id)
        return lambda listener: listener

    def event(self, event_type: str):
        self.events.append(event_type)
        return lambda listener: listener

    def function(self, callback_id: str):
        self.functions.append(callback_id)
        return lambda listener: listener

    def options(self, action_id: str):
        self.option_loaders.append(action_id)
        return lambda listener: listener


def test_commands_in_code_and_manifest_are_the_same():
    app = RecordingApp()
    listeners.register(app)  # type: ignore[arg-type]
    declared = [command["command"] for command in MANIFEST["features"]["slash_commands"]]
    assert sorted(app.commands) == sorted(declared)


def test_the_alert_button_has_a_listener_and_interactivity_is_on():
    app = RecordingApp()
    listeners.register(app)  # type: ignore[arg-type]
    assert app.actions == [
        "resume_campaign",
        "open_setup",
        "resume_listed",
        list_blocks.PAGE_ACTION,
        "resume_digested",
        "resume_all",
        "cancel_resume_all",
        "cancel_scheduled_resume",
        "resume_later",
        "pick_time_listed",
        "pause_again",
        "snooze_reminders",
        "pause_all_again",
    ]
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    # Over HTTP, Slack asks message_menu_options_url.
    assert app.option_loaders == ["setup_usergroups", "setup_escalate_group", "setup_time_zone"]


def test_every_command_has_a_usage_hint():
    assert all(command.get("usage_hint") for command in MANIFEST["features"]["slash_commands"])


def test_socket_mode_and_interactivity_without_request_urls():
    settings = MANIFEST["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"] == {"is_enabled": True}
    assert "request_url" not in str(MANIFEST)
    assert "url:" not in (Path(__file__).resolve().parents[2] / "manifest.yml").read_text()


def test_bot_scopes_are_the_ones_the_code_uses():
    assert sorted(MANIFEST["oauth_config"]["scopes"]["bot"]) == [
        "chat:write",
        "chat:write.public",
        "commands",
        "usergroups:read",
        "users:read",
    ]


def test_manifest_yml_is_the_socket_mode_manifest_the_code_builds():
    assert manifest() == MANIFEST


def print_manifest(*arguments: str) -> dict:
    printed = subprocess.run(
        [sys.executable, "-m", "bot", "manifest", *arguments],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)},
        cwd=REPO / "tests",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert printed.returncode == 0, printed.stderr
    return json.loads(printed.stdout)


def test_the_printed_manifests_pass_slacks_own_schema():
    """`python -m bot manifest` needs no settings."""
    validator = Draft7Validator(SLACK_MANIFEST_SCHEMA, format_checker=Draft7Validator.FORMAT_CHECKER)
    for arguments in ([], ["--url", "https://bot.example.com/"], ["--url", "https://bot.example.com", "--socket-mode"]):
        assert list(validator.iter_errors(print_manifest(*arguments))) == []


def test_the_installable_http_manifest_names_every_url_on_the_host():
    printed = print_manifest("--url", "https://bot.example.com/")
    settings = printed["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["org_deploy_enabled"] is True
    assert settings["token_rotation_enabled"] is False
    assert settings["interactivity"]["request_url"] == "https://bot.example.com/slack/events"
    assert settings["event_subscriptions"]["request_url"] == "https://bot.example.com/slack/events"
    assert printed["features"]["slash_commands"][0]["url"] == "https://bot.example.com/slack/events"
    assert printed["oauth_config"]["redirect_urls"] == ["https://bot.example.com/slack/oauth_redirect"]


def test_the_installable_socket_mode_manifest_has_the_redirect_url_and_no_request_urls():
    printed = print_manifest("--url", "https://bot.example.com", "--socket-mode")
    assert printed["settings"]["socket_mode_enabled"] is True
    assert printed["settings"]["org_deploy_enabled"] is True
    assert printed["oauth_config"]["redirect_urls"] == ["https://bot.example.com/slack/oauth_redirect"]
    assert "request_url" not in json.dumps(printed) and '"url"' not in json.dumps(printed)


def test_every_manifest_subscribes_to_the_events_the_code_listens_to():
    app = RecordingApp()
    listeners.register(app)  # type: ignore[arg-type]
    # function_executed: a step the app does not declare (its own are `app.function`s)
    assert sorted(app.events) == ["app_home_opened", "app_uninstalled", "function_executed", "tokens_revoked"]
    listened = app.events
    for printed in (MANIFEST, manifest("https://bot.example.com"), manifest("https://bot.example.com", True)):
        assert sorted(printed["settings"]["event_subscriptions"]["bot_events"]) == sorted(listened)


def test_every_manifest_declares_exactly_the_steps_the_code_runs_org_ready():
    app = RecordingApp()
    listeners.register(app)  # type: ignore[arg-type]
    assert app.functions == ["resume_campaign", "resume_all_paused", "list_paused_campaigns"]
    for printed in (MANIFEST, manifest("https://bot.example.com"), manifest("https://bot.example.com", True)):
        assert list(printed["functions"]) == app.functions
        assert printed["settings"]["org_deploy_enabled"] is True  # Slack requires it for steps
        assert printed["settings"]["function_runtime"] == "remote"
        for name, step in printed["functions"].items():
            inputs = step["input_parameters"]
            if name == "list_paused_campaigns":
                assert "user_context" not in inputs and "acting_user" not in inputs  # it resumes nothing
                continue
            # Who is checked is the person Slack says ran it; optional, so that a workflow started on a schedule
            # (which has none) can still be published. The name a builder picks grants nothing, and is optional.
            assert inputs["user_context"]["type"] == "slack#/types/user_context"
            assert inputs["user_context"]["is_required"] is False
            assert inputs["acting_user"]["type"] == "slack#/types/user_id" and not inputs["acting_user"]["is_required"]


def test_the_manifest_command_refuses_a_url_slack_would_not_post_to():
    printed = subprocess.run(
        [sys.executable, "-m", "bot", "manifest", "--url", "http://bot.example.com"],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert printed.returncode == 2 and printed.stdout == ""
    assert printed.stderr.strip() == "manifest: --url must be https://<host>, the web process's public address"
