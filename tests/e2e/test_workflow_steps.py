"""Workflow Builder steps through the real worker: the fake Slack sends `function_executed` as Slack does when a
workflow runs a step, and keeps how each step ended (`functions.completeSuccess` with outputs of the declared
names and types, or `functions.completeError`)."""

import itertools
import re

import pytest

from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign

_numbers = itertools.count(1)


def new_campaign(stack, name: str | None = None) -> str:
    campaign_id = f"batch_step{next(_numbers):05d}"
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id, name=name or f"Step campaign {campaign_id}"))
    return campaign_id


def resumes_of(stack, campaign_id: str) -> list:
    return [r for r in stack.truedy.resumes() if f"/{campaign_id}/" in r.path]


@pytest.fixture(scope="module")
def stack(loop, tmp_path_factory):
    running = start_stack(loop, tmp_path_factory.mktemp("steps"), RESUME_ALL_PER_MINUTE="6000")
    yield running
    stop_stack(running)


def test_the_resume_step_resumes_as_the_person_given_outputs_its_result_and_is_audited_as_the_workflow(stack):
    campaign_id = new_campaign(stack)
    run = stack.slack.step_executed("resume_campaign", {"campaign": campaign_id, "acting_user": "U0ALICE01"})
    assert stack.slack.wait_ack(run.envelope).payload in (None, {})

    ended = stack.slack.step_ending(run)
    assert ended.method == "functions.completeSuccess"
    outputs = ended.params["outputs"]
    assert outputs["campaign_id"] == campaign_id and outputs["status"] == "active"
    assert isinstance(outputs["resumed_at"], int)
    (resume,) = resumes_of(stack, campaign_id)
    assert resume.authorization == f"Bearer {KEY_BOT_TEAM}"
    history, _ = stack.command(f"history {campaign_id}")
    said = stack.private_reply(history)["text"]
    assert f"workflow run `{run.workflow_execution_id}` as <@U0ALICE01>" in said and "resumed" in said


def test_the_resume_step_takes_a_campaigns_exact_name(stack):
    campaign_id = new_campaign(stack, name="Spring Renewals West")
    run = stack.slack.step_executed("resume_campaign", {"campaign": "spring renewals west", "acting_user": "U0BOB0001"})
    assert stack.slack.step_ending(run).params["outputs"]["campaign_id"] == campaign_id
    assert len(resumes_of(stack, campaign_id)) == 1


def test_the_resume_step_for_a_campaign_not_paused_fails_with_what_the_thread_would_say(stack):
    campaign_id = new_campaign(stack)
    stack.truedy.set_status(KEY_BOT_TEAM, campaign_id, "active")
    run = stack.slack.step_executed("resume_campaign", {"campaign": campaign_id, "acting_user": "U0ALICE01"})
    ended = stack.slack.step_ending(run)
    assert ended.method == "functions.completeError"
    assert f"`{campaign_id}` was not resumed: it is already running" in ended.params["error"]


@pytest.mark.parametrize(
    "inputs, said",
    [
        ({"campaign": "no such campaign here", "acting_user": "U0ALICE01"}, "No paused campaign is named"),
        ({"campaign": "batch_x", "acting_user": ""}, "No one to resume as"),
    ],
)
def test_a_resume_step_that_cannot_start_fails_readably_and_sends_nothing(stack, inputs, said):
    before = len(stack.truedy.resumes())
    run = stack.slack.step_executed("resume_campaign", inputs)
    ended = stack.slack.step_ending(run)
    assert ended.method == "functions.completeError" and said in ended.params["error"]
    assert len(stack.truedy.resumes()) == before


def test_the_workspaces_restrictions_apply_to_the_person_a_step_acts_for(stack):
    campaign_id = new_campaign(stack)
    stack.slack.admins.add("U0ADMIN01")
    only_bob = {"allowed_users": {"value": {"type": "multi_users_select", "selected_users": ["U0BOB0001"]}}}
    stack.run_setup(BOT_TEAM, only_bob)
    try:
        run = stack.slack.step_executed("resume_campaign", {"campaign": campaign_id, "acting_user": "U0MALLORY"})
        ended = stack.slack.step_ending(run)
        assert ended.method == "functions.completeError"
        assert ended.params["error"].startswith(":lock: Only <@U0BOB0001> may resume")
        assert resumes_of(stack, campaign_id) == []
    finally:
        stack.run_setup(BOT_TEAM, {"allowed_users": {"value": {"type": "multi_users_select", "selected_users": []}}})


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
        "resume_all_paused", {"channel": "C0STEPS01", "name_filter": "autumn drive", "acting_user": "U0ALICE01"}
    )
    ended = stack.slack.step_ending(run, timeout=30)
    assert ended.method == "functions.completeSuccess"
    assert ended.params["outputs"] == {"total": 130, "resumed": 130, "failed": 0, "not_tried": 0, "finished": True}
    assert all(len(resumes_of(stack, campaign_id)) == 1 for campaign_id in campaigns)
    progress = wait_until(lambda: stack.slack.posts_in("C0STEPS01"), 10, "the progress message")[0]
    assert "130" in progress.params["text"]
    history, _ = stack.command(f"history {campaigns[0]}")
    assert f"workflow run `{run.workflow_execution_id}` as <@U0ALICE01>" in stack.private_reply(history)["text"]


def test_a_resume_all_step_longer_than_its_wait_completes_once_running_with_the_count_it_will_try(loop, tmp_path):
    slow = start_stack(loop, tmp_path, RESUME_ALL_PER_MINUTE="60")
    try:
        for n in range(30):
            slow.truedy.add(KEY_BOT_TEAM, campaign(f"batch_slow{n:05d}", name=f"Slow {n}"))
        run = slow.slack.step_executed("resume_all_paused", {"channel": "C0STEPS02", "acting_user": "U0ALICE01"})
        outputs = slow.slack.step_ending(run, timeout=30).params["outputs"]
        assert outputs["finished"] is False and outputs["total"] == 30
        assert outputs["resumed"] + outputs["not_tried"] == 30 and outputs["not_tried"] > 0
        progress = wait_until(lambda: slow.slack.posts_in("C0STEPS02"), 10, "the progress message")[0]
        assert re.search(r"30", progress.params["text"])
    finally:
        stop_stack(slow)
