"""README stays true: every setting documented, CI runs its exact test command."""

import re
from pathlib import Path

from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def test_every_setting_is_documented():
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in README, f"{name.upper()} is missing from README's settings table"


def test_ci_runs_the_test_command_readme_gives():
    section = README.split("## Test it", 1)[1]
    command = re.search(r"```sh\n(.+?)\n```", section, re.DOTALL).group(1)
    assert command.strip() in (REPO / ".ci" / "run").read_text().splitlines()


def test_procfile_runs_the_worker_and_the_webhook_receiver():
    assert (REPO / "Procfile").read_text().splitlines() == ["worker: python -m bot", "web: python -m bot web"]
