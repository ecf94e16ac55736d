"""Workflow step runs (bot.storage.step_runs) and their runner (bot.runners.steps) on a real database: one run
per `function_execution_id`, moved only by its owner from the state it is in, and ended by state when its
process died."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy import text

from bot.runners.steps import MAYBE_SENT, NEVER_SENT, StepRunner
from bot.slack.workflow_steps import StepRun
from bot.storage.resume_all_jobs import ResumeAllJobs
from bot.storage.step_runs import StepRuns
from bot.storage.workspace_settings import WorkspaceId
from tests.fakes.loop import wait_until

TEAM = WorkspaceId("", "T0BOT0001")
ME, OTHER = "steps-me", "steps-other"


def leases_run_out(engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE workflow_step_runs SET lease_expires_at = :at"),
            {"at": datetime.now(UTC) - timedelta(seconds=1)},
        )


def test_a_run_begins_once_however_many_times_slack_delivers_it(engine):
    runs = StepRuns(engine)
    with ThreadPoolExecutor(8) as pool:
        begun = list(pool.map(lambda n: runs.begin("Fx0AGAIN001", TEAM, "resume_campaign", "Wx1", f"p{n}"), range(8)))
    assert begun.count(True) == 1
    assert runs.begin("Fx0AGAIN001", TEAM, "resume_campaign", "Wx1", ME) is False  # after, too
    assert runs.get("Fx0AGAIN001").state == "running"


def test_only_the_owner_moves_a_run_and_only_from_the_state_it_is_in(engine):
    runs = StepRuns(engine)
    runs.begin("Fx0OWNER001", TEAM, "resume_campaign", "Wx1", ME)
    assert not runs.start_sending("Fx0OWNER001", OTHER)
    assert runs.start_sending("Fx0OWNER001", ME)
    assert not runs.start_sending("Fx0OWNER001", ME)  # once
    assert not runs.wait_for("Fx0OWNER001", ME, datetime.now(UTC))  # a resume's run never waits for a job
    assert not runs.complete("Fx0OWNER001", OTHER, {"error": "x"})
    assert runs.complete("Fx0OWNER001", ME, {"outputs": {"campaign_id": "batch_x", "status": "active"}})
    assert not runs.complete("Fx0OWNER001", ME, {"error": "a second ending"})  # decided once
    runs.ended("Fx0OWNER001")
    record = runs.get("Fx0OWNER001")
    assert record.state == "ended" and record.completion == {"outputs": {"campaign_id": "batch_x", "status": "active"}}


def test_a_live_owners_runs_are_never_taken_over_and_a_dead_ones_are_once(engine):
    runs = StepRuns(engine)
    for n in range(3):
        runs.begin(f"Fx0LEASE00{n}", TEAM, "list_paused_campaigns", "Wx1", ME)
    leases_run_out(engine)
    assert runs.renew(ME) == 3
    assert runs.take_over(OTHER) == []
    leases_run_out(engine)
    with ThreadPoolExecutor(4) as pool:
        taken = [r.execution_id for batch in pool.map(lambda n: runs.take_over(f"p{n}"), range(8)) for r in batch]
    assert sorted(taken) == ["Fx0LEASE000", "Fx0LEASE001", "Fx0LEASE002"]
    assert not runs.complete("Fx0LEASE000", ME, {"error": "x"})  # the dead (or stalled) process may end nothing


def test_at_the_end_of_a_shutdown_what_is_held_goes_to_the_next_process_at_once(engine):
    runs = StepRuns(engine)
    runs.begin("Fx0LETGO001", TEAM, "list_paused_campaigns", "Wx1", ME)
    runs.begin("Fx0LETGO002", TEAM, "list_paused_campaigns", "Wx1", OTHER)
    assert runs.let_go(ME) == 1
    assert [r.execution_id for r in runs.take_over("next")] == ["Fx0LETGO001"]


def test_runs_whose_process_died_are_ended_by_their_state_and_none_runs_twice(engine, slack):
    """Running (never sent): failed saying nothing was sent. Sending (maybe sent): failed saying it may have
    resumed. Completing: its completion sent again. Each once."""
    runs = StepRuns(engine)
    slack_runs = {state: slack.step_event("resume_campaign", {"campaign": "batch_x"})[0] for state in ("r", "s", "c")}
    running, sending, completing = (slack_runs[s].execution_id for s in ("r", "s", "c"))
    for execution_id in (running, sending, completing):
        runs.begin(execution_id, TEAM, "resume_campaign", "Wx1", "dead-process")
    runs.start_sending(sending, "dead-process")
    runs.complete(completing, "dead-process", {"outputs": {"campaign_id": "batch_x", "status": "active"}})
    leases_run_out(engine)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    runner = StepRunner(runs, ResumeAllJobs(engine), lambda _: client, ME)
    runner.end_dead_runs()
    assert slack_runs["r"].ended.params["error"] == NEVER_SENT
    assert slack_runs["s"].ended.params["error"] == MAYBE_SENT
    assert slack_runs["c"].ended.method == "functions.completeSuccess"
    assert {runs.get(e).state for e in (running, sending, completing)} == {"ended"}
    runner.end_dead_runs()
    assert len(slack.calls_to("functions.completeError")) == 2 and len(slack.calls_to("functions.completeSuccess")) == 1


def test_a_completion_slack_could_not_take_is_sent_again_by_its_owner(engine, slack):
    runs = StepRuns(engine)
    slack_run, _ = slack.step_event("list_paused_campaigns", {})
    runs.begin(slack_run.execution_id, TEAM, "list_paused_campaigns", "Wx1", ME)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    run = StepRun(slack_run.execution_id, TEAM, {}, "Wx1", client, runs, ME)
    slack.fail("functions.completeSuccess", "ratelimited")
    run.complete({"count": 0, "campaigns": "No campaign is paused."})
    assert slack_run.ended is None and runs.get(slack_run.execution_id).state == "completing"
    StepRunner(runs, ResumeAllJobs(engine), lambda _: client, ME).send_completions_again()
    wait_until(lambda: slack_run.ended, 5, "the completion sent again")
    assert runs.get(slack_run.execution_id).state == "ended"
