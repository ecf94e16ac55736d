"""`slack run` and `slack manifest`, with the Slack CLI's side of the hook protocol emulated: the hooks come
from `.slack/hooks.json` over slack_cli_hooks' `get-hooks`, each is run with the CLI's protocol arguments,
and `start` gets the development app's tokens in SLACK_BOT_TOKEN and SLACK_APP_TOKEN."""

import json
import re
import shlex
import subprocess
import sys

from jsonschema import Draft7Validator

from tests.fakes.worker import REPO, WorkerProcess, worker_env

BOUNDARY = "b0undary-7f3a"
PROTOCOL = ["--protocol", "message-boundaries", "--boundary", BOUNDARY]


def hook_command(line: str) -> list[str]:
    """A hook's command line as the CLI runs it, with this interpreter for python3 (the project's venv)."""
    words = [word.strip("'") for word in shlex.split(line)]
    return [sys.executable if word in ("python3", sys.executable) else word for word in words] + PROTOCOL


def answer(command: list[str]) -> str:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin"})
    assert done.returncode == 0, done.stderr
    _, response, _ = done.stdout.split(BOUNDARY)
    return response


def hooks() -> tuple[dict, dict]:
    """The project's hooks and config, as the CLI merges them: get-hooks' answer, overridden by
    .slack/hooks.json."""
    project = json.loads((REPO / ".slack" / "hooks.json").read_text())
    given = json.loads(answer(hook_command(project["hooks"]["get-hooks"])))
    return {**given["hooks"], **project["hooks"]}, {**given["config"], **project.get("config", {})}


def test_the_cli_gets_the_bots_manifest_which_slack_accepts():
    merged, config = hooks()
    assert "message-boundaries" in config["protocol-version"] and config["sdk-managed-connection-enabled"]
    manifest = json.loads(answer(hook_command(merged["get-manifest"])))
    schema = json.loads((REPO / "tests" / "schemas" / "slack-manifest.schema.v1.json").read_text())
    assert list(Draft7Validator(schema).iter_errors(manifest)) == []
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["features"]["slash_commands"][0]["command"] == "/resume-campaign"


def test_slack_run_reinstalls_the_app_when_the_files_the_manifest_is_built_from_change():
    """slack_cli_hooks would watch a manifest.json, which this project does not have."""
    _, config = hooks()
    manifest, app = config["watch"]["manifest"], config["watch"]["app"]
    assert all((REPO / path).exists() for path in manifest["paths"] + app["paths"])
    source = (REPO / "bot" / "slack" / "manifest.py").read_text()
    built_from = {"bot/slack/manifest.py"} | {
        module.replace(".", "/") + ".py" for module in re.findall(r"^from (bot\.[\w.]+) import", source, re.M)
    }
    assert built_from <= set(manifest["paths"])
    # …and restarts the worker when its code changes (not the tests' or benchmarks').
    assert app["paths"] == ["bot/"] and re.search(app["filter-regex"], "bot/worker.py")


def test_slack_run_starts_the_worker_with_the_development_apps_tokens(slack, truedy, tmp_path):
    merged, _ = hooks()
    env = worker_env(slack, truedy)  # SLACK_BOT_TOKEN and SLACK_APP_TOKEN: what the CLI sets for `start`
    worker = WorkerProcess(env, tmp_path, command=hook_command(merged["start"]))
    try:
        worker.wait_started(slack)
        assert slack.connections_opened >= 1
    finally:
        assert worker.terminate() == 0
