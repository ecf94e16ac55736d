"""One workspace's trouble stays in that workspace: a secret that can no longer be decrypted, or Slack
rate-limiting the check of who may resume, costs the other workspaces nothing."""

import time

from cryptography.fernet import Fernet
from sqlalchemy import update

from bot import storage
from bot.runtime import ANSWER_THREADS
from bot.storage.keybox import KeyBox
from tests.e2e.conftest import start_installations_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.truedy import campaign
from tests.fakes.worker import WorkerProcess

TEAM_A, KEY_A = "T0AAA0001", "truedy_TeamAKey00000000000000001"
TEAM_B, KEY_B = "T0BBB0002", "truedy_TeamBKey00000000000000002"
GROUPS = [f"S0LIM{n:04d}" for n in range(5)]


def connect(stack, team_id: str, key: str, **more) -> None:
    values = {"api_key": {"value": {"type": "plain_text_input", "value": key}}, **more}
    _, ack = stack.run_setup(team_id, values)
    assert ack.payload in (None, {})


def test_slack_rate_limiting_one_workspaces_group_check_never_delays_another(loop, tmp_path):
    stack = start_installations_stack(loop, tmp_path)
    try:
        stack.slack.admins.add("U0ADMIN01")
        for group in GROUPS:
            stack.slack.usergroups[group] = (group.lower(), ["U0MEMBER1"])
        stack.install(TEAM_A)
        stack.install(TEAM_B)
        stack.truedy.add(KEY_A, campaign("batch_lim00001"))
        stack.truedy.add(KEY_B, campaign("batch_lim00002"))
        selected = [{"value": group} for group in GROUPS]
        groups = {"setup_usergroups": {"type": "multi_external_select", "selected_options": selected}}
        connect(stack, TEAM_A, KEY_A, allowed_usergroups=groups)
        connect(stack, TEAM_B, KEY_B)
        stack.slack.fail("usergroups.users.list", "ratelimited", retry_after=30, times=1000)

        # More commands in A than the bot has threads for answers, each checking 5 groups.
        commands_a = [
            stack.command("batch_lim00001", team_id=TEAM_A, channel_id="C0LIMA001", user_id=f"U0ASK{n:04d}")[0]
            for n in range(8)
        ]
        sent = time.monotonic()
        stack.command("batch_lim00002", team_id=TEAM_B, channel_id="C0LIMB001", user_id="U0BOB0001")
        announced = wait_until(lambda: stack.slack.posts_in("C0LIMB001"), 3, "workspace B's answer within 3 s")
        assert announced[0].at - sent < 3  # the guarantee is a deadline
        told = [stack.private_reply(payload)["text"] for payload in commands_a]
        assert all("Try again in" in text and "nothing was resumed" in text for text in told), told
        assert [r.path for r in stack.truedy.resumes() if "batch_lim00001" in r.path] == []
        # Told at once, not after sleeping out Retry-After: Slack was asked by the checks running at that moment
        # (one per answering thread at most), then the limit was remembered: not 5 groups times 8 commands.
        assert len(stack.slack.calls_to("usergroups.users.list")) <= ANSWER_THREADS
    finally:
        stop_stack(stack)


def test_a_secret_that_cannot_be_decrypted_affects_only_its_own_workspace(loop, tmp_path):
    stack = start_installations_stack(loop, tmp_path, PAUSED_POLL_SECONDS="1")
    try:
        stack.slack.admins.add("U0ADMIN01")
        stack.install(TEAM_A)
        stack.install(TEAM_B)
        stack.truedy.add(KEY_A, campaign("batch_iso00001"))
        stack.truedy.add(KEY_B, campaign("batch_iso00002"))
        connect(stack, TEAM_A, KEY_A)
        alerts = {"value": {"type": "conversations_select", "selected_conversation": "C0ALERTB1"}}
        connect(stack, TEAM_B, KEY_B, alert_channel=alerts)  # B is polled every second
        # A rotation half done: A's key was sealed with a key the bot is no longer given.
        assert stack.worker.terminate() == 0
        engine = storage.connect(stack.database_url)
        with engine.begin() as connection:
            sealed = KeyBox(Fernet.generate_key().decode()).seal(KEY_A)
            table = storage.workspaces
            connection.execute(update(table).where(table.c.team_id == TEAM_A).values(api_key_encrypted=sealed))
        engine.dispose()
        stack.worker = WorkerProcess(stack.env, tmp_path)
        stack.worker.wait_started(stack.slack)  # the worker starts

        stack.command("batch_iso00002", team_id=TEAM_B, channel_id="C0ISOB001")
        _, reply, _ = stack.result_in_thread("C0ISOB001", "batch_iso00002")
        assert "is resumed" in reply.params["text"]

        payload, _ = stack.command("batch_iso00001", team_id=TEAM_A, channel_id="C0ISOA001")
        told = stack.private_reply(payload)["text"]
        assert "can no longer be read" in told and "`/resume-campaign setup`" in told
        # The admin who saved A's setup is told once, however many polls go by.
        dms = wait_until(lambda: stack.slack.posts_in("U0ADMIN01"), 10, "the admin's notice")
        # The worker and the web process share the polls.
        polls = len(lists_asked(stack))
        wait_until(lambda: len(lists_asked(stack)) >= polls + 3, 15, "a few more polls")
        assert len(stack.slack.posts_in("U0ADMIN01")) == 1 and "BOT_ENCRYPTION_KEY" in dms[0].params["text"]

        # Setup overwrites the key, and A is served again.
        connect(stack, TEAM_A, KEY_A)
        stack.command("batch_iso00001", team_id=TEAM_A, channel_id="C0ISOA001")
        _, reply, _ = stack.result_in_thread("C0ISOA001", "batch_iso00001")
        assert "is resumed" in reply.params["text"]
    finally:
        stop_stack(stack)


def lists_asked(stack) -> list:
    return [r for r in stack.truedy.received if r.method == "GET" and r.path.endswith("/batch-calls")]
