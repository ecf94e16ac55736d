import argparse
import json
import re
import sys
from importlib.metadata import PackageNotFoundError, version

from bot import worker
from bot.alert_cli import AlertNotPosted, post_alert
from bot.log import configure_logging
from bot.settings import SettingsError, load_settings
from bot.slack.app import StartupError
from bot.slack.manifest import manifest
from bot.slack.reach import OutOfReach


def main(argv: list[str]) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == "manifest":  # needs no settings
        if arguments.url is not None and not re.fullmatch(r"https://[^\s/?#]+", arguments.url.rstrip("/")):
            print("manifest: --url must be https://<host>, the web process's public address", file=sys.stderr)
            return 2
        if arguments.socket_mode and arguments.url is None:
            print("manifest: --socket-mode goes with --url (the host of the install pages)", file=sys.stderr)
            return 2
        print(json.dumps(manifest(arguments.url, socket_mode=arguments.socket_mode), indent=2))
        return 0
    try:
        settings = load_settings(worker=arguments.command is None)
    except SettingsError as error:
        for problem in error.problems:
            print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    if arguments.command == "alert":
        # stdout carries only the alert's ts, for scripts.
        configure_logging(settings.log_level, settings.secrets(), stream=sys.stderr)
        try:
            print(post_alert(settings, arguments.campaign_id, arguments.channel, arguments.team))
        except AlertNotPosted as error:
            print(f"alert not posted: {error}", file=sys.stderr)
            return 1
        return 0
    configure_logging(settings.log_level, settings.secrets())
    try:
        if arguments.command == "web":
            # Imported here: gunicorn reads WEB_CONCURRENCY when it is first imported, and a malformed one would
            # stop every command with a traceback; by now the settings have checked it.
            from bot import web

            return web.serve(settings)
        return worker.run(settings)
    except StartupError as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return 2
    except OutOfReach as error:  # worth starting again later, unlike the above
        print(f"cannot start: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while waiting for Slack at start: nothing to finish
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Without a command: run the worker.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", title="commands", help="without one, the worker runs")
    alert = commands.add_parser("alert", help="post a paused-campaign alert with a Resume button; prints its ts")
    alert.add_argument(
        "campaign_id",
        help="the Truedy campaign id to alert about, as the dashboard shows it (e.g. batch_c3d4e5f6: 3 to 64 "
        "letters, digits, _ or -)",
    )
    alert.add_argument(
        "--channel", required=True, help="the Slack channel id to post in, e.g. C0123ABCD (channel details > About)"
    )
    alert.add_argument(
        "--team",
        help="Slack team id of the workspace whose key and bot token are used (default: SLACK_BOT_TOKEN's; "
        "required when workspaces install the app)",
    )
    commands.add_parser(
        "web", help="serve HTTP on $PORT: Slack's requests (POST /slack/events), Truedy's webhooks, GET /healthz"
    )
    printed = commands.add_parser(
        "manifest", help="print the Slack app manifest (JSON): one workspace over Socket Mode, or installable"
    )
    printed.add_argument(
        "--url",
        help="https://<host> of the web process: workspaces install the app there (/slack/install), and Slack "
        "posts to <url>/slack/events",
    )
    printed.add_argument(
        "--socket-mode", action="store_true", help="with --url: requests come over Socket Mode, not HTTP"
    )
    return parser


def _version() -> str:
    try:
        return version("truedy-campaign-bot")
    except PackageNotFoundError:  # run from a clone without `pip install .`
        return "(not installed)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
