"""`python -m bot`'s own command line: its version, and help for every command and argument."""

import argparse
import subprocess
import sys
from importlib.metadata import version

from bot.__main__ import _parser
from tests.fakes.worker import REPO


def run(*arguments: str) -> subprocess.CompletedProcess:
    """Without any setting: none of these needs one."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *arguments],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_version_prints_the_packages_version():
    done = run("--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"python -m bot {version('truedy-campaign-bot')}\n", "")


def every_action(parser: argparse.ArgumentParser):
    for action in parser._actions:
        yield parser.prog, action
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                yield from every_action(command)


def test_every_command_and_argument_has_help():
    actions = list(every_action(_parser()))
    assert {prog for prog, _ in actions} >= {"python -m bot alert", "python -m bot web", "python -m bot manifest"}
    missing = [f"{prog} {action.dest}" for prog, action in actions if not action.help]
    assert missing == []


def test_the_alert_commands_help_says_what_each_argument_is():
    done = run("alert", "--help")
    assert done.returncode == 0 and done.stderr == ""
    for said in ("the Truedy campaign id to alert about", "the Slack channel id to post in", "Slack team id"):
        assert said in " ".join(done.stdout.split())
