"""Workflow Builder steps through the real worker: the fake Slack sends `function_executed` as Slack does when a
workflow runs a step (its `authorizations`, the person in `user_context` when the trigger has one), delivers it
again when asked, and keeps how each step ended (`functions.completeSuccess` with outputs of the declared names
and types, or `functions.completeError`; a second completion is refused, as Slack refuses it)."""

import itertools
import re

import pytest

from tests.e2e.conftest import KEY_BOT_TEAM, start_installations_stack, start_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign

_numbers = itertools.count(1)
ONLY_BOB = {"allowed_users": {"value": {"type": "multi_users_select", "selected_users": ["U0BOB0001"]}}}
EVERYONE = {"allowed_users": {"value": {"type": "multi_users_select", "selected_users": []}}}


def unattended(allowed: bool) -> dict:
    chosen = [{"text": {"type": "plain_text", "text": "x"}, "value": "allow"}] if allowed else []
    return {"unattended_runs": {"value": {"type": "checkboxes", "selected_options": chosen}}}


def new_campaign(stack, name: str | None = None, key: str = KEY_BOT_TEAM) -> str:
    campaign_id = f"batch_step{next(_numbers):05d}"
    stack.truedy.add(key, campaign(campaign_id, name=name or f"Step campaign {campaign_id}"))
    return campaign_id


def resumes_of(stack, campaign_id: str) -> list:
    return [r for r in stack.truedy.resumes() if f"/{campaign_id}/" in r.path]


def completions_of(stack, run) -> list:
    return [
        call
        for method in ("functions.completeSuccess", "functions.completeError")
        for call in stack.slack.calls_to(method)
        if call.params.get("function_execution_id") == run.execution_id
    ]


def history_of(stack, campaign_id: str) -> str:
    payload, _ = stack.command(f"history {campaign_id}")
    return stack.private_reply(payload)["text"]


@pytest.fixture(scope="module")
def stack(loop, tmp_path_factory):
    running = start_stack(loop, tmp_path_factory.mktemp("steps"), RESUME_ALL_PER_MINUTE="6000")
    running.slack.admins.add("U0ADMIN01")
    yield running
    stop_stack(running)


@pytest.fixture
def only_bob(stack):
    """The workspace restricts resumes to @bob (unattended runs not allowed) for the test's length."""
    stack.run_setup(BOT_TEAM, {**ONLY_BOB, **unattended(False)})
    yield
    stack.run_setup(BOT_TEAM, {**EVERYONE, **unattended(False)})


def test_the_resume_step_resumes_for_the_person_who_ran_it_outputs_its_result_and_is_audited(stack):
    campaign_id = new_campaign(stack)
    run = stack.slack.step_executed("resume_campaign", {"campaign": campaign_id}, run_by="U0ALICE01")
    assert stack.slack.wait_ack(run.envelope).payload in (None, {})

    ended = stack.slack.step_ending(run)
    assert ended.method == "functions.completeSuccess"
    outputs = ended.params["outputs"]
    assert outputs["campaign_id"] == campaign_id and outputs["status"] == "active"
    assert isinstance(outputs["resumed_at"], int)
    (resume,) = resumes_of(stack, campaign_id)
    assert resume.authorization == f"Bearer {KEY_BOT_TEAM}"
    said = history_of(stack, campaign_id)
    assert f"workflow run `{run.workflow_execution_id}` as <@U0ALICE01>" in said and "resumed" in said


def test_the_resume_step_takes_a_campaigns_exact_name(stack):
    campaign_id = new_campaign(stack, name="Spring Renewals West")
    run = stack.slack.step_executed("resume_campaign", {"campaign": "spring renewals west"}, run_by="U0BOB0001")
    assert stack.slack.step_ending(run).params["outputs"]["campaign_id"] == campaign_id
    assert len(resumes_of(stack, campaign_id)) == 1


def test_the_resume_step_for_a_campaign_not_paused_fails_with_what_the_thread_would_say(stack):
    campaign_id = new_campaign(stack)
    stack.truedy.set_status(KEY_BOT_TEAM, campaign_id, "active")
    run = stack.slack.step_executed("resume_campaign", {"campaign": campaign_id}, run_by="U0ALICE01")
    ended = stack.slack.step_ending(run)
    assert ended.method == "functions.completeError"
    assert f"`{campaign_id}` was not resumed: it is already running" in ended.params["error"]


def test_a_resume_step_that_cannot_start_fails_readably_and_sends_nothing(stack):
    before = len(stack.truedy.resumes())
    run = stack.slack.step_executed("resume_campaign", {"campaign": "no such campaign here"}, run_by="U0ALICE01")
    ended = stack.slack.step_ending(run)
    assert ended.method == "functions.completeError" and "No paused campaign is named" in ended.params["error"]
    assert len(stack.truedy.resumes()) == before


def test_the_workspaces_restrictions_apply_to_the_person_slack_says_ran_it_not_to_a_name(stack, only_bob):
    """Mallory builds a link-trigger workflow naming @bob: whoever clicks it is checked, never @bob."""
    refused_campaign, resumed_campaign = new_campaign(stack), new_campaign(stack)
    run = stack.slack.step_executed(
        "resume_campaign", {"campaign": refused_campaign, "acting_user": "U0BOB0001"}, run_by="U0MALLORY"
    )
    ended = stack.slack.step_ending(run)
    assert ended.method == "functions.completeError"
    assert ended.params["error"].startswith(":lock: Only <@U0BOB0001> may resume")
    assert resumes_of(stack, refused_campaign) == []
    run = stack.slack.step_executed("resume_campaign", {"campaign": resumed_campaign}, run_by="U0BOB0001")
    assert stack.slack.step_ending(run).method == "functions.completeSuccess"


def test_a_run_with_no_person_resumes_where_restricted_only_once_an_admin_allows_unattended_runs(stack, only_bob):
    """A scheduled workflow: "On behalf of" @bob, and nobody Slack vouches for. Refused until an admin allows
    unattended runs in setup; then resumed, and audited as unattended, allowed by that admin."""
    campaign_id = new_campaign(stack)
    run = stack.slack.step_executed("resume_campaign", {"campaign": campaign_id, "acting_user": "U0BOB0001"})
    ended = stack.slack.step_ending(run)
    assert ended.method == "functions.completeError"
    assert "no person Slack vouches for" in ended.params["error"] and "grants nothing" in ended.params["error"]
    assert resumes_of(stack, campaign_id) == []

    stack.run_setup(BOT_TEAM, {**ONLY_BOB, **unattended(True)})
    status, _ = stack.command("status", user_id="U0ADMIN01")
    assert "• Unattended workflow runs: allowed by <@U0ADMIN01>" in stack.private_reply(status)["text"]
    run = stack.slack.step_executed("resume_campaign", {"campaign": campaign_id, "acting_user": "U0BOB0001"})
    assert stack.slack.step_ending(run).method == "functions.completeSuccess"
    assert len(resumes_of(stack, campaign_id)) == 1
    said = history_of(stack, campaign_id)
    assert f"workflow run `{run.workflow_execution_id}` for <@U0BOB0001> (unattended, allowed by <@U0ADMIN01>)" in said


def test_a_resume_all_step_with_no_person_is_refused_where_restricted_and_nothing_is_started(stack, only_bob):
    new_campaign(stack, "Unattended Sweep One")
    run = stack.slack.step_executed("resume_all_paused", {"channel": "C0STEPS09", "name_filter": "unattended sweep"})
    ended = stack.slack.step_ending(run)
    assert ended.method == "functions.completeError" and "no person Slack vouches for" in ended.params["error"]
    assert stack.slack.posts_in("C0STEPS09") == []


@pytest.mark.parametrize("step", ["resume_campaign", "resume_all_paused"])
def test_a_step_delivered_again_while_it_runs_and_after_it_ended_resumes_once_and_completes_once(stack, step):
    """Slack delivers the same `function_executed` again (`retry_attempt` 1) while the first run goes on, and
    again once it ended: one resume request, one completeSuccess with the run's real outputs, no completeError."""
    name = f"Redelivered {step} {next(_numbers)}"
    campaign_id = new_campaign(stack, name)
    inputs = {"campaign": campaign_id} if step == "resume_campaign" else {"channel": "C0STEPS10", "name_filter": name}
    stack.truedy.delay = 1.0  # the first run is still waiting on Truedy when the copies arrive
    seen = len(stack.worker.logged("workflow_step_again"))
    try:
        run = stack.slack.step_executed(step, inputs, run_by="U0ALICE01")
        again = [stack.slack.deliver_again(run) for _ in range(2)]
        for envelope in (run.envelope, *again):
            stack.slack.wait_ack(envelope)
        ended = stack.slack.step_ending(run)
    finally:
        stack.truedy.delay = 0.0
    assert ended.method == "functions.completeSuccess"
    stack.slack.wait_ack(stack.slack.deliver_again(run))  # after it ended
    wait_until(lambda: stack.worker.logged("workflow_step_again")[seen + 2 :], 10, "the copies seen as copies")
    assert [c.method for c in completions_of(stack, run)] == ["functions.completeSuccess"]
    assert len(resumes_of(stack, campaign_id)) == 1
    if step == "resume_campaign":
        assert ended.params["outputs"]["campaign_id"] == campaign_id
    else:
        assert ended.params["outputs"]["resumed"] == 1 and ended.params["outputs"]["finished"] is True


def test_a_step_the_app_does_not_declare_is_completed_with_why_once(stack):
    run = stack.slack.step_executed("resume_campaign_v0", {})
    ended = stack.slack.step_ending(run)
    assert (
        ended.method == "functions.completeError"
        and "This app has no step “resume_campaign_v0”" in ended.params["error"]
    )
    copies = len(stack.worker.logged("workflow_step_again"))
    stack.slack.wait_ack(stack.slack.deliver_again(run))
    wait_until(lambda: stack.worker.logged("workflow_step_again")[copies:], 10, "the copy seen as a copy")
    assert len(completions_of(stack, run)) == 1


def test_a_step_from_a_workspace_the_token_does_not_serve_is_completed_with_why_once(stack):
    run = stack.slack.step_executed("list_paused_campaigns", {}, team_id="T0OTHER01")
    ended = stack.slack.step_ending(run)
    assert ended.method == "functions.completeError" and "serves another Slack workspace" in ended.params["error"]
    stack.slack.wait_ack(stack.slack.deliver_again(run))
    assert len(completions_of(stack, run)) == 1


def test_the_list_step_outputs_the_count_and_a_line_each(stack):
    first, second = new_campaign(stack, "Harvest Leads One"), new_campaign(stack, "Harvest Leads Two")
    new_campaign(stack, "Winter Callbacks")
    run = stack.slack.step_executed("list_paused_campaigns", {"name_filter": "harvest leads"})
    outputs = stack.slack.step_ending(run).params["outputs"]
    assert outputs["count"] == 2
    assert outputs["campaigns"].splitlines() == [
        f"• Harvest Leads One ({first}), 188 pending",
        f"• Harvest Leads Two ({second}), 188 pending",
    ]


def test_a_resume_all_step_over_130_campaigns_completes_with_its_counts(stack):
    campaigns = [new_campaign(stack, f"Autumn Drive {n:03d}") for n in range(130)]
    run = stack.slack.step_executed(
        "resume_all_paused", {"channel": "C0STEPS01", "name_filter": "autumn drive"}, run_by="U0ALICE01"
    )
    ended = stack.slack.step_ending(run, timeout=30)
    assert ended.method == "functions.completeSuccess"
    expected = {"total": 130, "resumed": 130, "failed": 0, "unknown": 0, "not_tried": 0, "finished": True}
    assert ended.params["outputs"] == expected
    assert all(len(resumes_of(stack, campaign_id)) == 1 for campaign_id in campaigns)
    progress = wait_until(lambda: stack.slack.posts_in("C0STEPS01"), 10, "the progress message")[0]
    assert "130" in progress.params["text"] and "a workflow run as <@U0ALICE01>" in progress.params["text"]
    assert f"workflow run `{run.workflow_execution_id}` as <@U0ALICE01>" in history_of(stack, campaigns[0])


def test_a_resume_all_step_longer_than_its_wait_completes_once_running_with_the_count_it_will_try(loop, tmp_path):
    slow = start_stack(loop, tmp_path, RESUME_ALL_PER_MINUTE="60")
    try:
        for n in range(30):
            slow.truedy.add(KEY_BOT_TEAM, campaign(f"batch_slow{n:05d}", name=f"Slow {n}"))
        run = slow.slack.step_executed("resume_all_paused", {"channel": "C0STEPS02"}, run_by="U0ALICE01")
        outputs = slow.slack.step_ending(run, timeout=30).params["outputs"]
        assert outputs["finished"] is False and outputs["total"] == 30
        assert outputs["resumed"] + outputs["not_tried"] == 30 and outputs["not_tried"] > 0
        progress = wait_until(lambda: slow.slack.posts_in("C0STEPS02"), 10, "the progress message")[0]
        assert re.search(r"30", progress.params["text"])
    finally:
        stop_stack(slow)


def test_resume_all_steps_waiting_on_their_jobs_hold_no_thread_that_lookups_need(loop, tmp_path):
    """Four 9:00 workflows at once, in four workspaces, each resume all long: the list step that follows is
    answered at once, not after the four have waited for their jobs."""
    stack = start_installations_stack(loop, tmp_path, RESUME_ALL_PER_MINUTE="60")
    try:
        stack.slack.admins.add("U0ADMIN01")
        teams = [f"T0WAIT{n:03d}" for n in range(5)]
        for n, team in enumerate(teams):
            key = f"truedy_WaitTeam{n}Key0000000000000001"
            stack.install(team)
            for m in range(20):
                stack.truedy.add(key, campaign(f"batch_wait{n}{m:03d}", name=f"Wait {n} {m}"))
            _, ack = stack.run_setup(team, {"api_key": {"value": {"type": "plain_text_input", "value": key}}})
            assert ack.payload in (None, {}), ack.payload
        waiting = [
            stack.slack.step_executed("resume_all_paused", {"channel": f"C0WAIT{n:03d}"}, team, run_by="U0ADMIN01")
            for n, team in enumerate(teams[:4])
        ]
        for n in range(4):
            wait_until(lambda n=n: stack.slack.posts_in(f"C0WAIT{n:03d}"), 15, "each job's progress message")
        listed = stack.slack.step_executed("list_paused_campaigns", {}, teams[4])
        assert stack.slack.step_ending(listed, timeout=3).params["outputs"]["count"] == 20
        assert not any(run.ended for run in waiting)  # the four still wait for their jobs, on no thread
        for run in waiting:
            assert stack.slack.step_ending(run, timeout=20).params["outputs"]["finished"] is False
    finally:
        stop_stack(stack)
