"""The Slack CLI's hooks for this project (`.slack/hooks.json`): `slack run` creates a development app from
the bot's manifest and starts the worker with that app's tokens (the CLI sets SLACK_BOT_TOKEN and
SLACK_APP_TOKEN; the rest comes from `.env`). slack_cli_hooks, Slack's own package, speaks the CLI's
protocol and gives the other hooks; these two replace its `get-manifest` (it reads a manifest.json, the
bot's manifest is built in code) and its `start` (it runs an app.py).

    python -m bot.slack_cli get-manifest|start [--protocol … --boundary …]
"""

import json
import sys

from slack_cli_hooks.protocol import build_protocol

from bot.__main__ import main as run_bot
from bot.slack.manifest import manifest


def main(argv: list[str]) -> int:
    protocol = build_protocol(argv=argv)  # reads --protocol and --boundary, whatever else is there
    hook = argv[1] if len(argv) > 1 else ""
    if hook == "get-manifest":
        protocol.respond(json.dumps(manifest()))  # one workspace, Socket Mode: what `slack run` serves
        return 0
    if hook == "start":
        return run_bot([])  # the worker, as `python -m bot` runs it
    protocol.error(f"unknown hook {hook!r}: get-manifest or start")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
