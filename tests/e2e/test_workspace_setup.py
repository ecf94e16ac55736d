"""Workspaces connect themselves from Slack; settings, locks and the audit trail live in the database.

Each new workspace installs the app first (through the install pages), and is then served over Socket Mode
with its own bot token. Every test here runs on SQLite, and again on PostgreSQL when TEST_DATABASE_URL is set.
"""

import itertools
import json
import sqlite3
from dataclasses import replace

import psycopg
import pytest
from sqlalchemy import make_url, text

from bot import storage
from tests.e2e.conftest import KEY_BOT_TEAM, start_installations_stack, start_stack, stop_stack
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import Scripted, campaign
from tests.fakes.worker import WorkerProcess, run_bot, worker_env

_numbers = itertools.count(1)


@pytest.fixture(scope="module", params=KINDS)
def stack(request, loop, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(f"setup-{request.param}")
    with fresh_database(request.param, workdir) as database_url:
        running = start_installations_stack(loop, workdir, DATABASE_URL=database_url)
        running.slack.admins.add("U0ADMIN01")
        running.slack.usergroups["S0OPS0001"] = ("ops-leads", ["U0CAROL01"])
        for n in range(150):  # more than a static menu's 100 options
            running.slack.usergroups[f"S0GRP{n:04d}"] = (f"team-{n:03d}", [f"U0GRP{n:04d}"])
        yield running
        stop_stack(running)


@pytest.fixture
def new_team(stack):
    """A workspace that has just installed the app, with a Truedy account of its own: (team id, key)."""
    number = next(_numbers)
    team_id, key = f"T0NEW{number:04d}", f"truedy_NewTeamKey{number:016d}"
    stack.truedy.add(key, campaign(f"batch_new{number:05d}"))
    stack.install(team_id)
    return team_id, key


def key_value(key: str) -> dict:
    return {"api_key": {"value": {"type": "plain_text_input", "value": key}}}


def groups_value(*group_ids: str) -> dict:
    """The group field as Slack submits it (the options found as the admin typed)."""
    selected = [{"value": group_id} for group_id in group_ids]
    return {"setup_usergroups": {"type": "multi_external_select", "selected_options": selected}}


def run_setup(stack, team_id: str, values: dict, user_id: str = "U0ADMIN01"):
    return stack.run_setup(team_id, values, user_id)


def private_texts(stack, payload) -> list[str]:
    return [response.params["text"] for response in stack.slack.responses_to(payload)]


def test_an_admin_connects_a_new_workspace_entirely_from_slack(stack, new_team):
    team_id, key = new_team
    campaign_id = f"batch_new{team_id[-4:]}0"
    stack.truedy.add(key, campaign(campaign_id))
    values = {
        **key_value(f"  {key} "),
        "alert_channel": {"value": {"type": "conversations_select", "selected_conversation": "C0ALERTS1"}},
    }

    payload, ack = run_setup(stack, team_id, values)

    assert ack.payload in (None, {})  # the modal closes
    modal = stack.slack.opened_views()[-1]["view"]
    assert [b.get("block_id") for b in modal["blocks"]][1:] == [
        "api_key",
        "alert_channel",
        "invite_hint",
        "allowed_users",
        "allowed_usergroups",
        "unattended_runs",
        "webhook_secret",
        "reminders",
        "remind_after",
        "quiet_from",
        "quiet_to",
        "time_zone",
        "escalate_person",
        "escalate_group",
    ]
    assert modal["blocks"][1]["optional"] is False
    saved = wait_until(lambda: private_texts(stack, payload), 10, "the confirmation")[0]
    assert saved.startswith(":white_check_mark: Saved.")
    assert f"ending in `{key[-4:]}` (saved in Slack setup; checked with Truedy <!date^" in saved
    assert "• Alert channel: <#C0ALERTS1>" in saved
    assert key not in saved
    key_checks = [r for r in stack.truedy.received if r.path == "/api/public/v1/batch-calls"]
    assert key_checks[-1].authorization == f"Bearer {key}" and key_checks[-1].query == "limit=1&offset=0"

    stack.command(campaign_id, channel_id=f"C0{team_id}", team_id=team_id)
    announcement, reply, final = stack.result_in_thread(f"C0{team_id}", campaign_id)
    assert "is resumed" in reply.params["text"]
    assert [r.authorization for r in stack.truedy.resumes() if campaign_id in r.path] == [f"Bearer {key}"]
    # Every Slack call for this workspace, over Socket Mode, used its own bot token.
    assert {announcement.token, reply.token, final.token} == set(stack.slack.tokens_of(team_id))
    modal_opened = stack.slack.calls_to("views.open")[-1]
    assert modal_opened.token in stack.slack.tokens_of(team_id)


def test_a_workspace_installed_but_not_connected_is_told_privately_and_nothing_is_called(stack, new_team):
    team_id, _ = new_team
    before = len(stack.truedy.received)
    payload, ack = stack.command("batch_notconn01", channel_id="C0NOTCONN", team_id=team_id)
    assert ack.payload is None
    told = stack.private_reply(payload)
    assert told["response_type"] == "ephemeral" and "not connected to Truedy yet" in told["text"]
    # Other workspaces of this stack go on meanwhile (the watcher's polls, an earlier test's key check that Slack's
    # 3 s cut short): nothing was sent, and nothing about this campaign was asked, with any key.
    called = [r for r in stack.truedy.received[before:] if r.method != "GET" or "batch_notconn01" in r.path]
    assert called == []
    assert stack.slack.posts_in("C0NOTCONN") == []


def test_a_rejected_key_is_reported_next_to_the_field_and_nothing_is_saved(stack, new_team):
    team_id, _ = new_team
    _, ack = run_setup(stack, team_id, key_value("truedy_RevokedKey0000000000"))
    assert ack.payload == {
        "response_action": "errors",
        "errors": {"api_key": "Truedy rejected this key: check it was copied whole and has not been revoked."},
    }
    payload, _ = stack.command("status", team_id=team_id)
    assert "• Truedy API key: none" in stack.private_reply(payload)["text"]


@pytest.mark.parametrize(
    "typed, error",
    [("", "Paste this workspace's Truedy API key"), ("truedy key with spaces", "does not look like a Truedy API key")],
)
def test_a_missing_or_malformed_key_is_refused_without_asking_truedy(stack, new_team, typed, error):
    team_id, _ = new_team

    _, ack = run_setup(stack, team_id, key_value(typed))
    assert ack.payload["response_action"] == "errors"
    assert error in ack.payload["errors"]["api_key"]
    # Checked with this key: never (other workspaces' checks, a slow one of an earlier test's, are not this).
    assert [r for r in stack.truedy.received if (r.authorization or "").removeprefix("Bearer ") == typed.strip()] == []


def test_others_than_admins_are_refused_politely(stack, new_team):
    team_id, _ = new_team
    opened = len(stack.slack.opened_views())
    payload, ack = stack.command("setup", team_id=team_id, user_id="U0ALICE01")
    assert ack.payload in (None, {})
    refusal = wait_until(lambda: private_texts(stack, payload), 10, "the refusal")[0]
    assert refusal.startswith(":lock: Only workspace admins and owners")
    assert len(stack.slack.opened_views()) == opened


def test_keys_are_encrypted_at_rest(stack, new_team):
    team_id, key = new_team
    run_setup(stack, team_id, key_value(key))
    wait_until(lambda: team_id in raw_database_text(stack), 10, "the saved settings")
    raw = raw_database_text(stack)
    assert key not in raw
    assert key[-4:] in raw  # the last 4 are kept in the clear, to show in status
    tokens = stack.slack.tokens_of(team_id)
    assert tokens and not any(token in raw for token in tokens)


def test_restrictions_apply_to_the_command_and_the_button(stack, new_team):
    team_id, key = new_team
    values = {
        **key_value(key),
        "allowed_users": {"value": {"type": "multi_users_select", "selected_users": ["U0BOB0001"]}},
        "allowed_usergroups": groups_value("S0OPS0001"),
    }
    run_setup(stack, team_id, values)
    campaign_id, channel = f"batch_rst{team_id[-4:]}", f"C0R{team_id[-4:]}"
    stack.truedy.add(key, campaign(campaign_id))

    refused, _ = stack.command(campaign_id, channel_id=channel, team_id=team_id, user_id="U0ALICE01")
    assert stack.private_reply(refused)["text"].startswith(
        ":lock: Only <@U0BOB0001> or members of <!subteam^S0OPS0001> may resume campaigns in this workspace"
    )
    ts = stack.slack.add_message(
        channel,
        [{"type": "actions", "elements": [{"type": "button", "action_id": "resume_campaign", "value": campaign_id}]}],
        "paused",
    )
    click = stack.slack.click(channel, ts, user_id="U0ALICE01", team_id=team_id)
    stack.slack.wait_ack(stack.slack.push("interactive", click))
    told = wait_until(lambda: stack.slack.responses_to(click), 10, "the refusal")[0]
    assert told.params["text"].startswith(":lock: Only <@U0BOB0001> or members of <!subteam^S0OPS0001>")
    assert [r for r in stack.truedy.resumes() if campaign_id in r.path] == []

    stack.command(campaign_id, channel_id=channel, team_id=team_id, user_id="U0CAROL01")  # a member of @ops-leads
    _, reply, _ = stack.result_in_thread(channel, campaign_id)
    assert "is resumed" in reply.params["text"]

    status, _ = stack.command("status", team_id=team_id)
    assert "• Who may resume: <@U0BOB0001> or members of <!subteam^S0OPS0001>" in stack.private_reply(status)["text"]


def test_history_shows_the_audit_trail(stack, new_team):
    team_id, key = new_team
    run_setup(stack, team_id, key_value(key))
    campaign_id, channel = f"batch_hist{team_id[-4:]}", f"C0H{team_id[-4:]}"
    stack.truedy.add(key, campaign(campaign_id))
    stack.command(campaign_id, channel_id=channel, team_id=team_id, user_id="U0DAVE001")
    stack.result_in_thread(channel, campaign_id)
    stack.command(campaign_id, channel_id=channel, team_id=team_id, user_id="U0ERIN001")  # already running now
    wait_until(lambda: len(stack.slack.posts_in(channel)) >= 4, 10, "the second result")

    everything = stack.private_reply(stack.command("history", team_id=team_id)[0])
    one = stack.private_reply(stack.command(f"history `{campaign_id}`", team_id=team_id)[0])
    other = stack.private_reply(stack.command("history batch_nothing1", team_id=team_id)[0])

    lines = one["text"].splitlines()
    assert lines[0] == f"*Latest resume attempts of `{campaign_id}`* (newest first)"
    assert "<@U0ERIN001> · `" in lines[1] and lines[1].split(" · ")[3:5] == ["command", "not resumable"]
    assert "<@U0DAVE001> · `" in lines[2] and " · command · resumed · `req_" in lines[2]
    assert everything["text"].count("\n•") == 2
    assert other["text"] == "No resume attempts of `batch_nothing1` recorded in this workspace yet."


def raw_database_text(stack) -> str:
    """Every value in every table, read around the bot."""
    url = make_url(stack.env.get("DATABASE_URL") or f"sqlite:///{stack.workdir}/bot.sqlite3")
    if url.drivername.startswith("sqlite"):
        with sqlite3.connect(url.database) as connection:
            tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            return repr([connection.execute(f'SELECT * FROM "{table}"').fetchall() for table in tables])
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as connection:
        tables = [row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return repr([connection.execute(f'SELECT * FROM "{table}"').fetchall() for table in tables])


@pytest.mark.parametrize("kind", KINDS)
def test_settings_survive_a_restart_and_a_wrong_encryption_key_stops_the_start(loop, tmp_path, kind):
    with fresh_database(kind, tmp_path) as database_url:
        stack = start_stack(loop, tmp_path, DATABASE_URL=database_url)
        try:
            stack.slack.admins.add("U0ADMIN01")
            stack.truedy.add("truedy_Restarted000000000001", campaign("batch_restart01"))
            _, ack = run_setup(stack, BOT_TEAM, key_value("truedy_Restarted000000000001"))
            assert ack.payload in (None, {})
            assert stack.worker.terminate() == 0

            restarted = WorkerProcess(stack.env, tmp_path)
            restarted.wait_started(stack.slack)
            stack.worker = restarted
            stack.command("batch_restart01", channel_id="C0RESTART")
            _, reply, _ = stack.result_in_thread("C0RESTART", "batch_restart01")
            assert "is resumed" in reply.params["text"]
            assert restarted.terminate() == 0

            other_key = {**stack.env, "BOT_ENCRYPTION_KEY": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="}
            refused = run_bot(other_key, tmp_path)
            assert refused.returncode == 2
            assert refused.stderr.strip() == (
                "cannot start: BOT_ENCRYPTION_KEY: not the key this database's Truedy keys were encrypted with "
                "(set the original key, or start on an empty database)"
            )
        finally:
            stop_stack(stack)


@pytest.mark.parametrize("kind", KINDS)
def test_a_worker_never_starts_on_a_schema_it_does_not_know(slack, truedy, tmp_path, kind):
    with fresh_database(kind, tmp_path) as database_url:
        env = worker_env(slack, truedy, TRUEDY_API_KEY=KEY_BOT_TEAM, DATABASE_URL=database_url)
        assert run_bot(env, tmp_path, "alert", "batch_x12", "--channel", "C0X").returncode == 1  # migrates, no campaign
        engine = storage.connect(database_url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
        engine.dispose()
        refused = run_bot(env, tmp_path)
        assert refused.returncode == 2
        assert refused.stderr.strip() == (
            "cannot start: DATABASE_URL: the database has schema revision 9999_from_the_future, newer than this "
            f"bot knows ({storage.newest_revision()}); deploy the newer bot"
        )


@pytest.mark.parametrize(
    "slow",
    [Scripted(hang=True), Scripted(200, {"data": [], "meta": {}, "pagination": {"has_more": False}}, trickle=0.3)],
    ids=["hangs", "answers a byte at a time"],
)
def test_the_form_is_answered_within_3_seconds_whatever_truedy_does(stack, new_team, slow):
    team_id, key = new_team
    stack.truedy.script(replace(slow, api_key=key))
    _, ack = run_setup(stack, team_id, key_value(key))
    assert ack.latency < 3
    assert ack.payload["response_action"] == "errors"
    assert "Save again" in ack.payload["errors"]["api_key"]
    payload, _ = stack.command("status", team_id=team_id)
    assert "• Truedy API key: none" in stack.private_reply(payload)["text"]  # nothing was saved


def test_the_form_names_the_bot_by_a_mention_which_slack_shows_with_the_apps_current_name(stack, new_team):
    team_id, _ = new_team
    opened = len(stack.slack.opened_views())
    stack.command("setup", team_id=team_id, user_id="U0ADMIN01")
    view = wait_until(lambda: stack.slack.opened_views()[opened:], 10, "the setup modal")[0]["view"]
    bot_user = stack.slack.tokens[stack.slack.tokens_of(team_id)[0]].bot_user_id  # this workspace's bot
    assert f"To invite <@{bot_user}> to a private channel" in json.dumps(view["blocks"])


def test_an_admin_demoted_while_the_form_was_open_cannot_save_it(stack, new_team):
    team_id, key = new_team
    opened = len(stack.slack.opened_views())
    stack.command("setup", team_id=team_id, user_id="U0ADMIN01")
    view = wait_until(lambda: stack.slack.opened_views()[opened:], 10, "the setup modal")[0]
    stack.slack.admins.discard("U0ADMIN01")
    try:
        submission = stack.slack.view_submission(view["view"], key_value(key), user_id="U0ADMIN01", team_id=team_id)
        ack = stack.slack.wait_ack(stack.slack.push("view_submission", submission))
    finally:
        stack.slack.admins.add("U0ADMIN01")
    refusal = ack.payload["errors"]["api_key"]
    assert refusal.startswith("Only workspace admins and owners, and whoever installed the app, can change")
    payload, _ = stack.command("status", team_id=team_id)
    assert "• Truedy API key: none" in stack.private_reply(payload)["text"]


def test_any_group_can_be_chosen_and_saving_an_unchanged_form_keeps_the_restriction(stack, new_team):
    team_id, key = new_team
    opened = len(stack.slack.opened_views())
    run_setup(stack, team_id, {**key_value(key), "allowed_usergroups": groups_value("S0GRP0140")})
    field = next(
        b for b in stack.slack.opened_views()[opened]["view"]["blocks"] if b.get("block_id") == "allowed_usergroups"
    )
    # The groups are found as the admin types: past the first 100 too.
    suggestion = stack.slack.block_suggestion(field["element"]["action_id"], "allowed_usergroups", "team-14", team_id)
    found = stack.slack.wait_ack(stack.slack.push("interactive", suggestion)).payload["options"]
    assert [option["value"] for option in found] == [f"S0GRP{n:04d}" for n in range(140, 150)]
    assert found[0]["text"] == {"type": "plain_text", "text": "@team-140"}

    # Opened again, the form shows the group chosen (number 140 of 151), and saving it unchanged keeps it.
    payload, _ = run_setup(stack, team_id, {"allowed_usergroups": groups_value("S0GRP0140")})
    field = next(
        b for b in stack.slack.opened_views()[-1]["view"]["blocks"] if b.get("block_id") == "allowed_usergroups"
    )
    assert field["element"]["initial_options"] == [
        {"text": {"type": "plain_text", "text": "@team-140"}, "value": "S0GRP0140"}
    ]
    saved = wait_until(lambda: private_texts(stack, payload), 10, "the confirmation")[0]
    assert "• Who may resume: members of <!subteam^S0GRP0140>" in saved

    # Slack will not list the groups: the form says so and has no group field; saving keeps the group.
    stack.slack.fail("usergroups.list", "ratelimited", times=1)
    payload, _ = run_setup(stack, team_id, {})
    blocks = stack.slack.opened_views()[-1]["view"]["blocks"]
    assert "allowed_usergroups" not in [b.get("block_id") for b in blocks]
    assert "Saving keeps the 1 already chosen" in str(blocks)
    saved = wait_until(lambda: private_texts(stack, payload), 10, "the confirmation")[0]
    assert "• Who may resume: members of <!subteam^S0GRP0140>" in saved
