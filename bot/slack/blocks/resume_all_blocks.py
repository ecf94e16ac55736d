"""Resume all, as pure functions over Block Kit: the button with its confirm dialog, the proposal that
`resume-all` answers with, the progress message (updated in place) and the summary in its thread."""

import json
from datetime import datetime
from typing import Any

from bot.slack.blocks.messages import COMMAND, Message, context, duration, escape, private, section, slack_date
from bot.storage.resume_all_jobs import MAY_HAVE_RESUMED, NOT_PAUSED, SENDING, JobItem, Progress, ResumeAllJob

RESUME_ALL_ACTION_ID = "resume_all"
CANCEL_ACTION_ID = "cancel_resume_all"
# Under a finished resume-all's summary, for UNDO_MINUTES: pause again what it resumed (bot.slack.resume_all_requests).
PAUSE_ALL_AGAIN_ACTION_ID = "pause_all_again"
# The summary names every failure, in sections of Slack's 3,000 characters, within its 50 blocks.
SECTION_CHARS = 2900
SUMMARY_SECTIONS = 40

Block = dict[str, Any]


def resume_all_button(count: int, per_minute: int, value: str) -> Block:
    campaigns = _campaigns(count)
    return {
        "type": "button",
        "action_id": RESUME_ALL_ACTION_ID,
        "text": {"type": "plain_text", "text": f"Resume all {count}"},
        "style": "primary",
        "value": value,
        "confirm": {
            "title": {"type": "plain_text", "text": f"Resume {campaigns}?"},
            "text": {
                "type": "mrkdwn",
                "text": (
                    f"This starts calling again in {campaigns}, one after another at Truedy's rate limit "
                    f"({duration(count * 60 / per_minute)}). One message shows the progress, with a Cancel button."
                ),
            },
            "confirm": {"type": "plain_text", "text": f"Resume {count}"},
            "deny": {"type": "plain_text", "text": "Don't resume"},
        },
    }


def parse_resume_all_value(value: str) -> tuple[str, int] | None:
    """("digest", id) for a digest's button, ("job", id) for a proposal's; None for anything else."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or len(parsed) != 1:
        return None
    ((kind, number),) = parsed.items()
    if kind not in ("digest", "job") or type(number) is not int or not 0 < number < 2**62:
        return None
    return kind, number


def job_value(job_id: int) -> str:
    return json.dumps({"job": job_id}, separators=(",", ":"))


def parse_job_id(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 2**62 else None


def proposal(count: int, job_id: int, per_minute: int, complete: bool) -> Message:
    """What `resume-all` answers privately: how many, and the button that starts it (after its dialog)."""
    if count == 0:
        text = "Nothing is paused in this workspace's Truedy account right now, so there is nothing to resume."
        return private(f":white_check_mark: {text}")
    capped = "" if complete else " (the first ones Truedy listed: run it again afterwards for the rest)"
    text = (
        f"*{_campaigns(count).capitalize()} paused* in this workspace's Truedy account{capped}. Resume all of them? "
        "The channel sees one message with the progress; when it ends, its thread names every campaign that "
        "was not resumed, and why."
    )
    actions = {"type": "actions", "elements": [resume_all_button(count, per_minute, job_value(job_id))]}
    return {**private(text), "blocks": [section(text), actions]}


def proposal_taken(channel: str) -> Message:
    return private(f"Started: the progress is in <#{channel}>.")


def nothing_left_in_digest() -> Message:
    return private(
        f"Every campaign of this digest was resumed or is not paused any more: nothing to do. "
        f"`{COMMAND} list` shows what is paused now."
    )


def cannot_post(channel: str) -> Message:
    return private(
        f":warning: I can't post the progress in <#{channel}> (I may not be a member: `/invite` me there), "
        "so I did not start. Nothing was resumed."
    )


def proposal_gone() -> Message:
    return private(
        f"That count is no longer current (it was started already, or is over an hour old). "
        f"Nothing was resumed. `{COMMAND} resume-all` counts again."
    )


def not_started() -> Message:
    """The progress message of a resume all that could not start (the database failed as it was confirmed)."""
    text = (
        ":warning: *Resume all did not start*: the bot could not record it. Nothing was resumed. "
        f"`{COMMAND} resume-all` tries again."
    )
    return {"text": text, "blocks": [section(text)]}


def already_running(job: ResumeAllJob) -> Message:
    what = "A pause-all-again" if job.pauses else "A resume-all"
    return private(
        f"{what} started by {started_by(job)} is already running in this workspace (its progress is "
        f"in <#{job.channel}>). Nothing new was started: one at a time, since they share Truedy's rate limit."
    )


def not_running() -> Message:
    return private("That job (resume all, or Pause all again) has already ended, so there is nothing to cancel.")


def progress(job: ResumeAllJob, counts: Progress, now: datetime, per_minute: int, note: str | None = None) -> Message:
    """The progress message: started by whom, how far, how long still; `note` says why it waits."""
    line = progress_line(counts, None if job.state == "ended" else seconds_left(job, counts, now, per_minute), job)
    name = _name(job)
    if job.state == "ended":
        headline = {
            "finished": f":white_check_mark: *{name} finished*",
            "cancelled": f":black_square_for_stop: *{name} cancelled* by <@{job.cancelled_by}>",
            "stopped": f":octagonal_sign: *{name} stopped*: the others would fail the same way (see the thread)",
        }[job.ending or "finished"]
    elif job.state == "cancelling":
        headline = f":hourglass_flowing_sand: *Cancelling {name.lower()}*, asked by <@{job.cancelled_by}>…"
    elif job.pauses:
        headline = ":double_vertical_bar: *Pausing again what resume all resumed*"
    else:
        headline = ":arrow_forward: *Resuming all paused campaigns*"
    started = f"{headline} (started by {started_by(job)})"
    blocks: list[Block] = [section(f"{started}\n{line}")]
    if note:
        blocks.append(context(note))
    if job.state == "running":
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": CANCEL_ACTION_ID,
                        "text": {"type": "plain_text", "text": "Cancel"},
                        "style": "danger",
                        "value": str(job.id),
                        "confirm": {
                            "title": {
                                "type": "plain_text",
                                "text": "Stop pausing?" if job.pauses else "Stop resuming?",
                            },
                            "text": {
                                "type": "mrkdwn",
                                "text": "The campaigns not paused yet keep calling. Those paused stay paused."
                                if job.pauses
                                else "The campaigns not resumed yet stay paused. Those resumed keep calling.",
                            },
                            "confirm": {"type": "plain_text", "text": "Stop"},
                            "deny": {"type": "plain_text", "text": "Keep going"},
                        },
                    }
                ],
            }
        )
    return {"text": f"{started}: {line}", "blocks": blocks}


def progress_line(counts: Progress, seconds_left: float | None, job: ResumeAllJob | None = None) -> str:
    """ "Resumed 37 of 130 · 2 failed · about 1 min left" ("Paused…" for Pause all again); `seconds_left` None
    once the job ended."""
    pauses = job is not None and job.pauses
    parts = [f"{'Paused' if pauses else 'Resumed'} {counts.resumed} of {counts.total}"]
    if counts.not_paused:
        parts.append(f"{counts.not_paused} not {'running' if pauses else 'paused'} any more")
    if counts.skipped:
        parts.append(f"{counts.skipped} skipped")
    parts.append(f"{counts.failed} failed")
    if counts.unknown:
        parts.append(f"{counts.unknown} may have {'been paused' if pauses else 'resumed'}")
    if seconds_left is not None:
        parts.append(f"{duration(seconds_left)} left")
    elif counts.left:
        parts.append(f"{counts.left} not tried")
    return " · ".join(parts)


def seconds_left(job: ResumeAllJob, counts: Progress, now: datetime, per_minute: int) -> float:
    waiting = max(0.0, (job.not_before - now).total_seconds()) if job.not_before else 0.0
    return counts.left * 60 / per_minute + waiting


def rate_limited_note(until: datetime) -> str:
    return f":hourglass: Truedy's rate limit for this key was reached: going on at {slack_date(until)}."


def restarting_note() -> str:
    return ":pause_button: The bot is restarting: this goes on by itself in a moment, where it stopped."


def summary(job: ResumeAllJob, counts: Progress, items: list[JobItem]) -> Message:
    """In the progress message's thread, once it ended: the counts, then each campaign that was not resumed
    and why (failed, skipped, not paused any more, or not tried when it was cancelled or stopped)."""
    ended = {"finished": "finished", "cancelled": "was cancelled", "stopped": "stopped"}[job.ending or "finished"]
    headline = f"{_name(job)} {ended}: {progress_line(counts, None, job)}."
    lines = [
        f"• *{escape(item.name or 'Unnamed campaign', 80)}*  `{item.campaign_id}`: {_said(item, job.pauses)}"
        for item in items
        if item.outcome not in ("resumed", "paused")
    ]
    sections: list[str] = []
    for line in lines:
        if sections and len(sections[-1]) + len(line) + 1 <= SECTION_CHARS:
            sections[-1] += "\n" + line
        else:
            sections.append(line)
    blocks: list[Block] = [section(f"*{headline}*")]
    blocks += [section(text) for text in sections[:SUMMARY_SECTIONS]]
    if len(sections) > SUMMARY_SECTIONS:
        shown = sum(text.count("\n") + 1 for text in sections[:SUMMARY_SECTIONS])
        more = f"…and {len(lines) - shown} more: `{COMMAND} history` lists every attempt."
        blocks.append(context(more))
    still_paused = [f"the {counts.left} not tried"] if counts.left else []
    still_paused += [f"the {counts.failed} that failed"] if counts.failed else []
    if job.pauses and counts.skipped:
        still_paused.append(f"the {counts.skipped} skipped")  # someone else was changing them: not paused by this
    if still_paused and job.pauses:
        what = ", ".join(still_paused[:-1]) + (" and " if len(still_paused) > 1 else "") + still_paused[-1]
        blocks.append(context(f"{what[0].upper()}{what[1:]} are still calling: pause them in the Truedy dashboard."))
    elif still_paused:
        what = " and ".join(still_paused)
        advice = f"{what[0].upper()}{what[1:]} are still paused: `{COMMAND} list` shows them with a Resume button each."
        blocks.append(context(advice))
    if counts.unknown:
        may = "been paused" if job.pauses else "resumed"
        blocks.append(
            context(
                f"Truedy gave no clear answer for {_campaigns(counts.unknown)}: each may have {may}. Check them in "
                f"the Truedy dashboard (or `{COMMAND} list`) before trying again; the bot does not try them again."
            )
        )
    if job.undo_taken_by:
        blocks.append(context(f"<@{job.undo_taken_by}> asked to pause them again: the progress is in the channel."))
    elif job.undo_until is not None and counts.resumed:
        blocks.append(_pause_all_again(job, counts.resumed))
    return {"text": headline, "blocks": blocks}


def _pause_all_again(job: ResumeAllJob, resumed: int) -> Block:
    campaigns = _campaigns(resumed)
    assert job.undo_until is not None
    return {
        "type": "actions",
        "block_id": "pause_all_again",
        "elements": [
            {
                "type": "button",
                "action_id": PAUSE_ALL_AGAIN_ACTION_ID,
                "text": {"type": "plain_text", "text": f"Pause all {resumed} again"},
                "style": "danger",
                "value": str(job.id),
                "confirm": {
                    "title": {"type": "plain_text", "text": f"Pause {campaigns} again?"},
                    "text": {
                        "type": "mrkdwn",
                        "text": (
                            f"This pauses again the {campaigns} this resume all resumed, one after another; calls "
                            "already placed finish. One message shows the progress, with a Cancel button. Offered "
                            f"until {slack_date(job.undo_until)}."
                        ),
                    },
                    "confirm": {"type": "plain_text", "text": f"Pause {resumed}"},
                    "deny": {"type": "plain_text", "text": "Keep them running"},
                },
            }
        ],
    }


def undo_not_taken(job: ResumeAllJob | None, running: ResumeAllJob | None) -> Message:
    """Why a click on Pause all again started nothing (nothing was paused)."""
    if job is not None and job.undo_taken_by:
        return private(
            f"<@{job.undo_taken_by}> already asked to pause them again: one job does it, its progress is in "
            f"<#{job.channel}>. Nothing more was started."
        )
    if running is not None:
        return already_running(running)
    if job is None:
        return private(
            ":warning: That Pause all again button is not one of this workspace's, so nothing was paused or changed. "
            "Use the buttons of this workspace's own messages."
        )
    return private(
        "Pause all again is no longer offered here (its minutes are over), so nothing was paused. "
        f"`{COMMAND} list` shows what is paused; pause a running campaign in the Truedy dashboard."
    )


def _name(job: ResumeAllJob) -> str:
    return "Pause all again" if job.pauses else "Resume all"


def _said(item: JobItem, pauses: bool = False) -> str:
    if item.outcome in (None, SENDING):
        return "not tried"
    if item.outcome == "skipped":
        return f"skipped: {item.detail}"
    if item.outcome in NOT_PAUSED:
        return f"not {'running' if pauses else 'paused'} any more ({item.detail})"
    if item.outcome in MAY_HAVE_RESUMED:
        return f"may have {'been paused' if pauses else 'resumed'}: {item.detail}"
    return f"failed: {item.detail}"


def started_by(job: ResumeAllJob) -> str:
    """Who started it: a person; or a workflow run, as that person, or unattended (named, at most)."""
    if job.workflow and job.unattended:
        named = f" for <@{job.requested_by}>" if job.requested_by else ""
        return f"a workflow run{named} (unattended)"
    if job.workflow:
        return f"a workflow run as <@{job.requested_by}>"
    return f"<@{job.requested_by}>"


def _campaigns(count: int) -> str:
    return "1 campaign" if count == 1 else f"{count} campaigns"
