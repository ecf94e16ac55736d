"""Resume all, as pure functions over Block Kit: the button with its confirm dialog, the proposal that
`resume-all` answers with, the progress message (updated in place) and the summary in its thread."""

import json
from datetime import datetime
from typing import Any

from bot.slack.blocks.messages import COMMAND, Message, context, duration, escape, private, section, slack_date
from bot.storage.resume_all_jobs import MAY_HAVE_RESUMED, NOT_PAUSED, SENDING, JobItem, Progress, ResumeAllJob

RESUME_ALL_ACTION_ID = "resume_all"
CANCEL_ACTION_ID = "cancel_resume_all"
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
    return private(
        f"A resume-all started by {started_by(job)} is already running in this workspace (its progress is "
        f"in <#{job.channel}>). Nothing new was started: one at a time, since they share Truedy's rate limit."
    )


def not_running() -> Message:
    return private("That resume-all has already ended, so there is nothing to cancel.")


def progress(job: ResumeAllJob, counts: Progress, now: datetime, per_minute: int, note: str | None = None) -> Message:
    """The progress message: started by whom, how far, how long still; `note` says why it waits."""
    line = progress_line(counts, None if job.state == "ended" else seconds_left(job, counts, now, per_minute))
    if job.state == "ended":
        headline = {
            "finished": ":white_check_mark: *Resume all finished*",
            "cancelled": f":black_square_for_stop: *Resume all cancelled* by <@{job.cancelled_by}>",
            "stopped": ":octagonal_sign: *Resume all stopped*: the others would fail the same way (see the thread)",
        }[job.ending or "finished"]
    elif job.state == "cancelling":
        headline = f":hourglass_flowing_sand: *Cancelling resume all*, asked by <@{job.cancelled_by}>…"
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
                            "title": {"type": "plain_text", "text": "Stop resuming?"},
                            "text": {
                                "type": "mrkdwn",
                                "text": "The campaigns not resumed yet stay paused. Those resumed keep calling.",
                            },
                            "confirm": {"type": "plain_text", "text": "Stop"},
                            "deny": {"type": "plain_text", "text": "Keep going"},
                        },
                    }
                ],
            }
        )
    return {"text": f"{started}: {line}", "blocks": blocks}


def progress_line(counts: Progress, seconds_left: float | None) -> str:
    """ "Resumed 37 of 130 · 2 failed · about 1 min left"; `seconds_left` None once the job ended."""
    parts = [f"Resumed {counts.resumed} of {counts.total}"]
    if counts.not_paused:
        parts.append(f"{counts.not_paused} not paused any more")
    if counts.skipped:
        parts.append(f"{counts.skipped} skipped")
    parts.append(f"{counts.failed} failed")
    if counts.unknown:
        parts.append(f"{counts.unknown} may have resumed")
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
    headline = f"Resume all {ended}: {progress_line(counts, None)}."
    lines = [
        f"• *{escape(item.name or 'Unnamed campaign', 80)}*  `{item.campaign_id}`: {_said(item)}"
        for item in items
        if item.outcome != "resumed"
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
    if still_paused:
        what = " and ".join(still_paused)
        advice = f"{what[0].upper()}{what[1:]} are still paused: `{COMMAND} list` shows them with a Resume button each."
        blocks.append(context(advice))
    if counts.unknown:
        blocks.append(
            context(
                f"Truedy gave no clear answer for {_campaigns(counts.unknown)}: each may have resumed. Check them in "
                f"the Truedy dashboard (or `{COMMAND} list`) before trying again; the bot does not try them again."
            )
        )
    return {"text": headline, "blocks": blocks}


def _said(item: JobItem) -> str:
    if item.outcome in (None, SENDING):
        return "not tried"
    if item.outcome == "skipped":
        return f"skipped: {item.detail}"
    if item.outcome in NOT_PAUSED:
        return f"not paused any more ({item.detail})"
    if item.outcome in MAY_HAVE_RESUMED:
        return f"may have resumed: {item.detail}"
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
