"""Workflow Builder steps (`function_executed`): acknowledged by Bolt at once; each run is recorded by its
`function_execution_id` after the ack, so that a delivery Slack makes again does nothing, and then runs and
ends with a completion whatever happens (bot.slack.workflow_steps). A step this app does not declare is
completed with an error saying so, once."""

import logging
from collections.abc import Callable
from functools import partial

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.services import Services
from bot.slack import workflow_steps
from bot.slack.blocks import messages
from bot.slack.context import workspace_of
from bot.slack.workflow_steps import StepRun, tell_slack

log = logging.getLogger("bot.steps")

Step = Callable[[Services, StepRun], None]


def register(app: App) -> None:
    app.function("resume_campaign")(resume_campaign)
    app.function("resume_all_paused")(resume_all_paused)
    app.function("list_paused_campaigns")(list_paused_campaigns)
    # Last: Bolt runs the first listener that matches, so this one gets only steps of no other's.
    app.event("function_executed")(unknown_step)


def resume_campaign(body: dict, client: WebClient, context: BoltContext) -> None:
    _start(context, body, client, workflow_steps.resume_campaign)


def resume_all_paused(body: dict, client: WebClient, context: BoltContext) -> None:
    _start(context, body, client, workflow_steps.resume_all)


def list_paused_campaigns(body: dict, client: WebClient, context: BoltContext) -> None:
    _start(context, body, client, workflow_steps.list_paused)


def unknown_step(body: dict, client: WebClient, context: BoltContext) -> None:
    """A workflow runs a step this app no longer declares (or never did): ended with why, not left hanging."""
    _start(context, body, client, None)


def _start(context: BoltContext, body: dict, client: WebClient, step: Step | None) -> None:
    services: Services = context["services"]
    event = body.get("event") or {}
    run = StepRun(
        execution_id=str(event.get("function_execution_id") or ""),
        workspace=workspace_of(context),
        inputs=event.get("inputs") if isinstance(event.get("inputs"), dict) else {},
        workflow=str(event.get("workflow_execution_id") or ""),
        client=client,
        runs=services.step_runs,
        owner=services.steps_owner,
    )
    callback = str((event.get("function") or {}).get("callback_id") or "")
    log.info(
        "workflow step",
        extra={"fields": {"event": "workflow_step", "step": callback[:64], "workflow": run.workflow[:64]}},
    )
    # Every step may read Truedy first (a resume step given a name reads the paused list): on the lookups' pool,
    # so that a slow Truedy holds no quick answer. A resume itself runs on the flow's own threads.
    # Dropped still queued at a shutdown's deadline: recorded, so that the next process ends it ("nothing was
    # resumed; run the workflow again"), rather than left to hang.
    dropped = partial(_record_dropped, run, callback)
    if not services.lookups.submit(_run_once, step, callback, services, run, dropped=dropped):
        _run_once(None, callback, services, run, stopping=True)  # said at once, as to a click


def _record_dropped(run: StepRun, callback: str) -> None:
    """One database insert, on the thread that drains the pool at the deadline: the Slack call is the next
    process's (bot.runners.steps ends it, this process's lease given up at the end of its shutdown)."""
    run.runs.begin(run.execution_id, run.workspace, callback, run.workflow, run.owner)


def _run_once(step: Step | None, callback: str, services: Services, run: StepRun, stopping: bool = False) -> None:
    """The first delivery of this execution runs and is completed whatever happens; any other does nothing."""
    try:
        begun = run.runs.begin(run.execution_id, run.workspace, callback, run.workflow, run.owner)
    except SQLAlchemyError:
        # No row to record a completion in: Slack is told directly, so that the workflow does not hang on it.
        log.exception("database unavailable", extra={"fields": {"event": "database_error"}})
        tell_slack(run.client, run.runs, run.execution_id, {"error": messages.database_unavailable()["text"]})
        return
    if not begun:
        log.info(
            "workflow step delivered again: nothing done",
            extra={"fields": {"event": "workflow_step_again", "workflow": run.workflow[:64]}},
        )
        return
    if stopping:
        run.fail(error=messages.shutting_down()["text"])
        return
    if step is None:
        name = messages.escape(callback, 64)
        run.fail(
            error=f"This app has no step “{name}”: the app was changed since this workflow was built. Open the "
            "workflow in Workflow Builder and replace the step with one the app offers now."
        )
        return
    try:
        step(services, run)
    except SQLAlchemyError:
        log.exception("database unavailable", extra={"fields": {"event": "database_error"}})
        run.fail(error=messages.database_unavailable()["text"])
    except Exception:
        run.fail(error=messages.bot_failure()["text"])
        raise
