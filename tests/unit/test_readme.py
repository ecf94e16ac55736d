"""README and docs/ stay true: every setting documented, every test a guarantee names exists, CI runs the
test command README gives."""

import re
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
SETTINGS = (REPO / "docs" / "settings.md").read_text()
GUARANTEES = (REPO / "docs" / "guarantees.md").read_text()


def test_every_setting_is_documented():
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in SETTINGS, f"{name.upper()} is missing from docs/settings.md"


def test_every_test_a_guarantee_names_exists():
    named = re.findall(r"`((?:unit|e2e)/[\w/]+\.py)(?:::(\w+))?`", GUARANTEES)
    assert len(named) > 20
    for path, test in named:
        source = REPO / "tests" / path
        assert source.exists(), f"docs/guarantees.md names {path}, which does not exist"
        if test:
            assert re.search(rf"^def {test}\(", source.read_text(), re.MULTILINE), f"{path}::{test} does not exist"


def test_every_page_readme_links_to_exists():
    for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.(?:md|yml))(?:#[\w-]+)?\)", README):
        assert (REPO / target).exists(), f"README links to {target}, which does not exist"


def test_ci_runs_the_test_command_readme_gives():
    section = README.split("## Test it", 1)[1]
    command = re.search(r"```sh\n(.+?)\n```", section, re.DOTALL).group(1)
    assert command.strip() in (REPO / ".ci" / "run").read_text().splitlines()


def test_procfile_runs_the_worker_and_the_webhook_receiver():
    assert (REPO / "Procfile").read_text().splitlines() == ["worker: python -m bot", "web: python -m bot web"]


def test_python_version_names_a_python_the_project_supports():
    """Heroku's Python buildpack (and pyenv, uv) read it."""
    version = (REPO / ".python-version").read_text().strip()
    required = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert re.fullmatch(r"3\.\d+", version) and Version(version) in SpecifierSet(required)


def test_every_dependency_whose_internals_the_code_touches_is_bounded_above():
    """A new major (or, for uvicorn, minor) release of these could break what bot/ subclasses or reaches into."""
    touched = {"slack-bolt", "slack-sdk", "gunicorn", "uvicorn", "uvicorn-worker", "sqlalchemy"}
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    bounds = {re.split(r"[\[<>=]", line, maxsplit=1)[0]: line for line in declared}
    assert touched <= set(bounds)
    assert all("<" in bounds[name] for name in touched)


def test_creating_the_slack_app_comes_before_running_it():
    assert README.index("## Create the Slack app") < README.index("## Run it") < README.index("## Test it")


def test_every_deploy_block_creates_the_database_add_on():
    deploy = README[README.index("## Deploy") : README.index("## Performance")]
    blocks = re.findall(r"```sh\n(.*?)```", deploy, re.S)
    assert blocks and all("heroku addons:create heroku-postgresql" in block for block in blocks)


def test_readme_says_how_to_run_with_the_slack_cli_and_through_a_tunnel():
    assert "slack run" in README and (REPO / ".slack" / "hooks.json").exists()
    assert "https tunnel" in README and "PUBLIC_URL" in README


def test_wherever_http_mode_is_set_up_by_hand_every_request_url_is_named():
    operations = (REPO / "docs" / "operations.md").read_text()
    for text in (README, operations):
        where = re.search(r"turn (\*\*)?Socket Mode(\*\*)? off", text)
        assert where is not None
        told = text[where.start() : where.start() + 600]
        for url in ("Select Menus Options Load URL", "Event", "Interactivity & Shortcuts", "`/resume-campaign`"):
            assert url in told, url


def test_distribution_is_set_up_with_the_names_slacks_settings_use():
    where = README.index("Manage Distribution")
    told = README[where - 40 : where + 700]
    for name in (
        "**Settings → Manage Distribution**",
        "**Share Your App with Other Workspaces**",
        "**Remove Hard Coded Information**",
        "**Activate Public Distribution**",
        "**Sharable URL**",
    ):
        assert name in told, name
    assert "Direct Install URL" not in README  # the old wording: the page has a Sharable URL to copy, not one to set
