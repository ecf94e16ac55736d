"""Workflow Builder steps (`function_executed`): acknowledged by Bolt at once; each step runs after, and ends
with `complete` or `fail` whatever happens (bot.slack.workflow_steps)."""

import logging
from collections.abc import Callable

from slack_bolt import App, BoltContext, Complete, Fail
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot.background import BackgroundWork
from bot.services import Services
from bot.slack import workflow_steps
from bot.slack.blocks import messages
from bot.slack.context import workspace_of
from bot.slack.workflow_steps import StepRun

log = logging.getLogger("bot.steps")

Step = Callable[[Services, StepRun], None]


def register(app: App) -> None:
    app.function("resume_campaign")(resume_campaign)
    app.function("resume_all_paused")(resume_all_paused)
    app.function("list_paused_campaigns")(list_paused_campaigns)


def resume_campaign(body: dict, client: WebClient, complete: Complete, fail: Fail, context: BoltContext) -> None:
    services: Services = context["services"]
    _start(services.answers, workflow_steps.resume_campaign, body, client, complete, fail, context)


def resume_all_paused(body: dict, client: WebClient, complete: Complete, fail: Fail, context: BoltContext) -> None:
    services: Services = context["services"]
    _start(services.lookups, workflow_steps.resume_all, body, client, complete, fail, context)


def list_paused_campaigns(body: dict, client: WebClient, complete: Complete, fail: Fail, context: BoltContext) -> None:
    services: Services = context["services"]
    _start(services.lookups, workflow_steps.list_paused, body, client, complete, fail, context)


def _start(
    pool: BackgroundWork,
    step: Step,
    body: dict,
    client: WebClient,
    complete: Complete,
    fail: Fail,
    context: BoltContext,
) -> None:
    event = body.get("event") or {}
    inputs, workflow = event.get("inputs") or {}, event.get("workflow_execution_id") or ""
    run = StepRun(workspace_of(context), inputs, workflow, client, complete, fail)
    log.info(
        "workflow step",
        extra={"fields": {"event": "workflow_step", "step": step.__name__, "workflow": run.workflow}},
    )
    if not pool.submit(_ended_whatever_happens, step, context["services"], run):
        fail(error=messages.shutting_down()["text"])


def _ended_whatever_happens(step: Step, services: Services, run: StepRun) -> None:
    """A step left running shows as running in the workflow until Slack gives up on it: it always ends."""
    try:
        step(services, run)
    except SQLAlchemyError:
        log.exception("database unavailable", extra={"fields": {"event": "database_error"}})
        run.fail(error=messages.database_unavailable()["text"])
    except Exception:
        run.fail(error=messages.bot_failure()["text"])
        raise
