import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.browser import install
from tests.fakes.loop import wait_until
from tests.fakes.slack import CLIENT_ID, CLIENT_SECRET, Ack, ApiCall, FakeSlack
from tests.fakes.truedy import FakeTruedy
from tests.fakes.worker import WorkerProcess, run_bot, with_database, worker_env

KEY_BOT_TEAM = "truedy_BotTeamKey0000000000000001"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
OTHER_TEAM = "T0OTHER01"
KEY_OTHER_TEAM = "truedy_OtherTeamKey00000000000002"
UNCONFIGURED_TEAM = "T0NOKEY01"


@dataclass
class Stack:
    slack: FakeSlack
    truedy: FakeTruedy
    worker: WorkerProcess
    env: dict[str, str]
    workdir: Path
    web: WorkerProcess | None = None  # with installations: the web process serving the install pages
    site: str | None = None  # its base URL

    def install(self, team_id: str, user_id: str = "U0INSTALL", **approval) -> None:
        """Install the app in `team_id` through the install pages, as `user_id` would in a browser."""
        assert self.site is not None, "this stack's tokens come from SLACK_BOT_TOKEN"
        page = install(self.site, self.slack, team_id, user_id, **approval)
        said = self.web.stdout()[-4000:] if self.web else ""
        assert page.status == 200, f"{page.body}\nthe web process said:\n{said}"

    @property
    def database_url(self) -> str:
        return with_database(self.env, self.workdir)["DATABASE_URL"]

    def run_bot(self, *args: str) -> subprocess.CompletedProcess:
        return run_bot(self.env, self.workdir, *args)

    def post_alert(self, campaign_id: str, channel: str, *more: str) -> str:
        done = self.run_bot("alert", campaign_id, "--channel", channel, *more)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def command(self, text: str, **payload_fields: str) -> tuple[dict, Ack]:
        payload = self.slack.slash_command(text, **payload_fields)
        return payload, self.slack.wait_ack(self.slack.push("slash_commands", payload))

    def run_setup(self, team_id: str, values: dict, user_id: str = "U0ADMIN01") -> tuple[dict, Ack]:
        """`/resume-campaign setup`, then submit the modal the bot opened: (command payload, submission ack)."""
        opened = len(self.slack.opened_views())
        payload, ack = self.command("setup", team_id=team_id, user_id=user_id)
        assert ack.payload in (None, {})
        view = wait_until(lambda: self.slack.opened_views()[opened:], 10, "the setup modal")[0]
        assert view["trigger_id"] == payload["trigger_id"]
        submission = self.slack.view_submission(view["view"], values, user_id=user_id, team_id=team_id)
        return payload, self.slack.wait_ack(self.slack.push("view_submission", submission))

    def private_reply(self, payload: dict) -> dict:
        """The first message sent privately to whoever sent `payload`, through its response_url."""
        return wait_until(lambda: self.slack.responses_to(payload), 10, "a private reply")[0].params

    def result_in_thread(self, channel: str, campaign_id: str) -> tuple[ApiCall, ApiCall, ApiCall]:
        """The announcement, its thread reply and the announcement's final update, once all three happened."""

        def found():
            announcements = [
                c
                for c in self.slack.posts_in(channel)
                if c.answer.get("ok") and "thread_ts" not in c.params and f"`{campaign_id}`" in c.params["text"]
            ]
            if not announcements:
                return None
            ts = announcements[-1].answer["ts"]
            replies = [c for c in self.slack.posts_in(channel) if c.params.get("thread_ts") == ts]
            updates = [c for c in self.slack.calls_to("chat.update") if c.params.get("ts") == ts]
            return (announcements[-1], replies[-1], updates[-1]) if replies and updates else None

        return wait_until(found, 15, f"the result of resuming {campaign_id} in {channel}")


def start_stack(loop, workdir, **settings: str) -> Stack:
    """A Socket Mode worker serving SLACK_BOT_TOKEN's workspace, whose key is KEY_BOT_TEAM."""
    slack = FakeSlack(loop).start()
    truedy = FakeTruedy(loop).start()
    env = worker_env(slack, truedy, TRUEDY_API_KEY=KEY_BOT_TEAM, **settings)
    worker = WorkerProcess(env, workdir)
    worker.wait_started(slack)
    return Stack(slack, truedy, worker, env, workdir)


def start_installations_stack(loop, workdir, **settings: str) -> Stack:
    """A Socket Mode worker serving every workspace that installed the app from the web process's pages
    (`Stack.install`); none has yet."""
    slack = FakeSlack(loop).start()
    truedy = FakeTruedy(loop).start()
    port = free_port()
    env = installations_env(slack, truedy, port, **settings)
    worker = WorkerProcess(env, workdir)
    worker.wait_started(slack)
    web = start_web_process(env, workdir)
    return Stack(slack, truedy, worker, env, workdir, web, f"http://127.0.0.1:{port}")


def installations_env(slack: FakeSlack, truedy: FakeTruedy, port: int, **settings: str) -> dict[str, str]:
    """Bot tokens from installations (the app's client id and secret), not SLACK_BOT_TOKEN."""
    env = worker_env(
        slack,
        truedy,
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        PORT=str(port),
        **settings,
    )
    del env["SLACK_BOT_TOKEN"]
    return env


def start_web_process(env: dict[str, str], workdir: Path) -> WorkerProcess:
    web = WorkerProcess(env, workdir, "web")
    wait_until(lambda: web.logged("web_started") or web.process.poll() is not None, 20, "the web process")
    assert web.process.poll() is None, web.stderr()
    return web


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_stack(stack: Stack) -> None:
    if stack.web is not None:
        stack.web.terminate()
    stack.worker.terminate()
    stack.slack.stop()
    stack.truedy.stop()


@pytest.fixture(scope="module")
def stack(loop, tmp_path_factory):
    """One worker for a whole module: Truedy read timeout 1 s so that hangs end quickly."""
    running = start_stack(loop, tmp_path_factory.mktemp("worker"), TRUEDY_READ_TIMEOUT="1")
    yield running
    stop_stack(running)
