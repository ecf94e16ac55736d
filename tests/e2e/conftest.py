import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.loop import wait_until
from tests.fakes.slack import Ack, ApiCall, FakeSlack
from tests.fakes.truedy import FakeTruedy
from tests.fakes.worker import WorkerProcess, run_bot, with_database, worker_env

KEY_BOT_TEAM = "truedy_BotTeamKey0000000000000001"
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
    slack = FakeSlack(loop).start()
    truedy = FakeTruedy(loop).start()
    env = worker_env(
        slack,
        truedy,
        TRUEDY_API_KEY=KEY_BOT_TEAM,
        TRUEDY_API_KEYS=f'{{"{OTHER_TEAM}": "{KEY_OTHER_TEAM}"}}',
        **settings,
    )
    worker = WorkerProcess(env, workdir)
    worker.wait_started(slack)
    return Stack(slack, truedy, worker, env, workdir)


def stop_stack(stack: Stack) -> None:
    stack.worker.terminate()
    stack.slack.stop()
    stack.truedy.stop()


@pytest.fixture(scope="module")
def stack(loop, tmp_path_factory):
    """One worker for a whole module: Truedy read timeout 1 s so that hangs end quickly."""
    running = start_stack(loop, tmp_path_factory.mktemp("worker"), TRUEDY_READ_TIMEOUT="1")
    yield running
    stop_stack(running)
