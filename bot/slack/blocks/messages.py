"""Every message the bot sends, as pure functions returning Slack message payloads (text + blocks)."""

import math
import re
from datetime import UTC, datetime
from typing import Any

from bot import truedy
from bot.log import redact_token_shapes
from bot.resume import (
    BotFailure,
    CannotCheck,
    Interrupted,
    NotAllowed,
    NotConnected,
    NotSent,
    NotStarted,
    Refusal,
    ResumeOutcome,
    ResumeRequest,
    UnattendedNotAllowed,
)
from bot.storage.alert_channels import ChannelProblem
from bot.storage.audit import AuditEntry
from bot.storage.inflight import AlreadyResuming
from bot.storage.workspace_settings import WorkspaceSettings

COMMAND = "/resume-campaign"
Message = dict[str, Any]


def slack_date(moment: datetime) -> str:
    """Rendered by Slack in each reader's own time zone; the fallback is UTC."""
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def duration(seconds: float) -> str:
    """A length of time as people say it: minutes, then hours past 90 minutes."""
    if seconds < 60:
        return "less than a minute"
    minutes = math.ceil(seconds / 60 - 0.25)
    if minutes < 90:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"


def escape(text: str, limit: int = 200) -> str:
    """Text from outside (what people typed, what Truedy said) shown verbatim, never as a mention, a link
    or a secret."""
    text = redact_token_shapes(" ".join(text.split()))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def usage() -> Message:
    return private(
        f"*Resume a paused Truedy campaign:* `{COMMAND} <campaign id>`, for example "
        f"`{COMMAND} batch_c3d4e5f6`.\n"
        "The id is on the campaign's page in the Truedy dashboard. I post who asked in this channel "
        "and the result in that message's thread.\n"
        f"• `{COMMAND}` or `{COMMAND} list`: the paused campaigns, each with a Resume button\n"
        f"• `{COMMAND} <part of a campaign's name>`: the paused campaigns whose name matches, to resume\n"
        f"• `{COMMAND} resume-all`: resume every paused campaign, after a confirmation, with one progress message\n"
        f"• `{COMMAND} <campaign id> at 9:00` (or `tomorrow 9:00`, `in 2h`, `monday 9am`, `tonight`, in your time "
        f"zone; `at` alone to pick the time): resume it then, as you would; `{COMMAND} scheduled` lists what is "
        "scheduled, to cancel\n"
        f"• `{COMMAND} status`: how this workspace is connected to Truedy, and who may resume\n"
        f"• `{COMMAND} history [campaign id]`: the latest resume attempts\n"
        f"• `{COMMAND} setup`: connect this workspace to Truedy (workspace admins)"
    )


def invalid_campaign_id(typed: str, reason: str) -> Message:
    shown = escape(typed.strip(), limit=40).replace("`", "'")
    return private(
        f":warning: `{shown}` is not a campaign id: {reason}.\n"
        f"Nothing was resumed. Campaign ids look like `batch_c3d4e5f6`; try `{COMMAND} help`."
    )


def workspace_not_configured() -> Message:
    return private(
        ":warning: This Slack workspace is not connected to Truedy yet, so I can't resume anything here. "
        "Nothing was resumed.\n"
        f"A workspace admin can connect it with `{COMMAND} setup`, with an API key from the Truedy dashboard "
        "(Settings → API Keys)."
    )


KEY_UNREADABLE = (
    "This workspace's saved Truedy settings can no longer be read: they were encrypted with a key the bot no "
    f"longer has. A workspace admin can save them again with `{COMMAND} setup`."
)


def secrets_unreadable_notice() -> Message:
    """The DM to the admin who last saved setup, once, when the workspace's secrets cannot be decrypted."""
    text = (
        f":warning: {KEY_UNREADABLE} Until then nothing can be resumed there and paused campaigns are not alerted. "
        "If whoever runs the bot still has the previous key, adding it back to BOT_ENCRYPTION_KEY fixes this too."
    )
    return {"text": text, "blocks": [section(text)]}


def me(bot_user_id: str | None) -> str:
    """The bot as a mention, which Slack shows with the app's name as the workspace sees it today (it can be
    renamed), else "me"."""
    return f"<@{bot_user_id}>" if bot_user_id else "me"


def not_installed() -> Message:
    return private(
        ":no_entry: This app is not installed in this workspace (or it was removed), so I did nothing: "
        "nothing was resumed. A workspace admin can install it again from the bot's install page "
        "(`/slack/install` on the bot's address; whoever runs the bot has the link)."
    )


def other_workspace() -> Message:
    return private(
        ":no_entry: This bot serves another Slack workspace with its own Truedy account, so I did nothing here: "
        "nothing was resumed. Whoever runs the bot can let each workspace install it, with its own Truedy account."
    )


def refusal(reason: Refusal, campaign_id: str) -> Message:
    match reason:
        case NotConnected(key_unreadable=True):
            return private(f":warning: {KEY_UNREADABLE} Nothing was resumed.")
        case NotConnected():
            return workspace_not_configured()
        case NotAllowed():
            return not_allowed(reason.settings)
        case UnattendedNotAllowed():
            return private(
                ":lock: This workflow run has no person Slack vouches for (it did not start from someone's link, "
                f"shortcut or button), and only {_who_may_resume(reason.settings)} may resume campaigns in this "
                "workspace, so nothing was resumed. A name given to the step grants nothing. Start the workflow "
                f"from a link or a button (that person's restrictions then apply), or have an admin allow unattended "
                f"workflow runs in `{COMMAND} setup`."
            )
        case CannotCheck():
            return private(
                ":hourglass: Slack is limiting how often I may check who can resume in this workspace, so I did "
                f"nothing: nothing was resumed. Try again in {reason.retry_after} s."
            )
        case AlreadyResuming():
            return already_resuming(reason, campaign_id)


def not_allowed(settings: WorkspaceSettings) -> Message:
    return private(
        f":lock: Only {_who_may_resume(settings)} may resume campaigns in this workspace, so nothing was "
        f"resumed. Ask one of them, or a workspace admin (`{COMMAND} setup` sets who may resume)."
    )


def bot_failure() -> Message:
    return private(
        ":x: Something went wrong inside the bot before anything was sent to Truedy: nothing was resumed. "
        "Please try again; if it keeps happening, tell whoever runs the bot."
    )


def database_unavailable() -> Message:
    return private(
        ":warning: I can't reach my database right now, so I did nothing: nothing was resumed. "
        "Please try again in a minute."
    )


def alert_channel_refused(channel: str, error: str, bot_user_id: str | None) -> Message:
    """A DM to whoever last saved setup: alerts stopped because Slack refused the channel."""
    return {
        "text": (
            f":warning: I can't post paused-campaign alerts in <#{channel}>: Slack says `{escape(error, 60)}`. "
            "Alerts for this workspace are on hold until that changes.\n"
            f"Invite {me(bot_user_id)} to the channel (`/invite` there, then my name), then save "
            f"`{COMMAND} setup` again, or choose another channel there. I also try the channel again once an hour."
        )
    }


def status(
    team_id: str,
    settings: WorkspaceSettings | None,
    channel_problem: ChannelProblem | None = None,
    public_url: str | None = None,
) -> Message:
    lines = status_lines(settings, channel_problem, public_url)
    return private("\n".join([f"*Truedy campaign bot in this workspace* (`{team_id}`)", *lines]))


def status_lines(
    settings: WorkspaceSettings | None, channel_problem: ChannelProblem | None = None, public_url: str | None = None
) -> list[str]:
    """How the workspace is connected, a bullet line each (`status`, and the Home tab)."""
    if settings is not None and settings.secrets_unreadable:
        key = f":warning: saved but can no longer be decrypted: save it again with `{COMMAND} setup`"
    elif settings is None or settings.api_key is None:
        key = f"none: this workspace is not connected (`{COMMAND} setup`)"
    else:
        source = "from the environment" if settings.key_source == "env" else "saved in Slack setup"
        checked = (
            f"checked with Truedy {slack_date(settings.key_checked_at)}" if settings.key_checked_at else "not checked"
        )
        key = f"saved, ending in `{settings.key_last4}` ({source}; {checked})"
    channel = f"<#{settings.alert_channel}>" if settings and settings.alert_channel else "none (no alerts are posted)"
    who = _who_may_resume(settings) if settings and settings.restricted else "everyone in this workspace"
    lines = [
        f"• Truedy API key: {key}",
        f"• Alert channel: {channel}",
        f"• Who may resume: {who}",
    ]
    if settings and settings.restricted:
        if settings.unattended_allowed_by:
            unattended = (
                f"allowed by <@{settings.unattended_allowed_by}>"
                + (f" {slack_date(settings.unattended_allowed_at)}" if settings.unattended_allowed_at else "")
                + ": a workflow started on a schedule resumes although resumes are restricted"
            )
        else:
            unattended = "not allowed: a workflow started on a schedule (with no person) cannot resume here"
        lines.append(f"• Unattended workflow runs: {unattended}")
    if settings is not None:
        lines.append(f"• Reminders of pauses nobody handles: {_reminders(settings)}")
    if settings and settings.webhook_token and public_url:
        url = f"`{webhook_url(public_url, settings.webhook_token)}`"
        secret = "signing secret saved" if settings.webhook_secret else f"no signing secret yet (`{COMMAND} setup`)"
        lines.append(f"• Truedy webhook: {url} ({secret})")
    elif settings and settings.webhook_token:
        lines.append("• Truedy webhook: none yet (the bot does not know its public address; polling finds pauses)")
    if channel_problem is not None:
        lines.insert(
            2,
            f"• :warning: Alerts are on hold: Slack refused them in <#{channel_problem.channel}> "
            f"(`{escape(channel_problem.error, 60)}`) {slack_date(channel_problem.since)}. Invite me there and save "
            f"`{COMMAND} setup` again, or choose another channel.",
        )
    if settings and settings.updated_at:
        by = "the environment" if settings.updated_by == "environment" else f"<@{settings.updated_by}>"
        lines.append(f"• Last changed by {by} {slack_date(settings.updated_at)}")
    return lines


def history(entries: list[AuditEntry], campaign_id: str | None) -> Message:
    scope = f" of `{campaign_id}`" if campaign_id else ""
    if not entries:
        return private(f"No resume attempts{scope} recorded in this workspace yet.")
    lines = [f"*Latest resume attempts{scope}* (newest first)"]
    for entry in entries:
        request = f" · `{entry.truedy_request_id}`" if entry.truedy_request_id else ""
        lines.append(f"• {audit_line(entry)}{request}")
    return private("\n".join(lines))


def audit_line(entry: AuditEntry) -> str:
    """One attempt: when, who and how (a person's command or click, their schedule, a workflow run as them),
    which campaign, how it ended."""
    who, campaign = f"<@{entry.user_id}>", f"`{entry.campaign_id}`"
    if entry.via == "schedule":
        how = f"scheduled by {who} · {campaign}"
    elif entry.via == "pause_again":
        how = f"paused again by {who} · {campaign}"
    elif entry.via == "workflow" and entry.unattended:
        named = f" for {who}" if entry.user_id else ""
        allowed = f", allowed by <@{entry.allowed_by}>" if entry.allowed_by else ""
        how = f"workflow run `{escape(entry.workflow or 'unknown', 40)}`{named} (unattended{allowed}) · {campaign}"
    elif entry.via == "workflow":
        how = f"workflow run `{escape(entry.workflow or 'unknown', 40)}` as {who} · {campaign}"
    else:
        how = f"{who} · {campaign} · {entry.via}"
    return f"{slack_date(entry.at)} · {how} · {entry.outcome.replace('_', ' ')}"


def setup_admins_only() -> Message:
    return private(
        f":lock: Only workspace admins and owners, and whoever installed the app, can change how this "
        "workspace uses Truedy. "
        f"`{COMMAND} status` shows the current settings."
    )


def setup_not_opened(error: str) -> Message:
    hint = " Slack allows 3 seconds to open it; please run the command again." if error == "expired_trigger_id" else ""
    return private(f":warning: I could not open the setup form (Slack said `{escape(error, 60)}`).{hint}")


def webhook_url(public_url: str, token: str) -> str:
    """A workspace's own Truedy webhook URL, at the bot's public address (PUBLIC_URL)."""
    return f"{public_url}/truedy/webhook/{token}"


def _reminders(settings: WorkspaceSettings) -> str:
    if settings.remind_after_minutes == 0:
        return "off"
    after = (
        "the bot's default (`REMIND_AFTER_MINUTES`)"
        if settings.remind_after_minutes is None
        else f"{settings.remind_after_minutes} min"
    )
    said = f"after {after}, then at growing intervals"
    if settings.quiet_from and settings.quiet_to:
        said += f"; never from {settings.quiet_from} to {settings.quiet_to} ({escape(settings.time_zone or 'UTC', 64)})"
    if settings.escalate_to and settings.escalate_to.isalnum():
        target = (
            f"<!subteam^{settings.escalate_to}>"
            if settings.escalate_to.startswith("S")
            else f"<@{settings.escalate_to}>"
        )
        said += f"; from the second, mentioning {target}"
    return said


def setup_saved(team_id: str, settings: WorkspaceSettings, public_url: str | None = None) -> Message:
    saved = status(team_id, settings, public_url=public_url)
    return private(":white_check_mark: Saved.\n" + saved["text"])


# Names shown of those who may resume: a longer list would outgrow a Block Kit section (3,000 characters).
WHO_SHOWN = 20


def _who_may_resume(settings: WorkspaceSettings) -> str:
    names = [f"<@{user}>" for user in settings.allowed_users]
    names += [f"members of <!subteam^{group}>" for group in settings.allowed_usergroups]
    if len(names) > WHO_SHOWN:
        names = [*names[: WHO_SHOWN - 1], f"{len(names) - WHO_SHOWN + 1} more (the setup form lists them all)"]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def shutting_down() -> Message:
    return private(
        ":hourglass: I'm restarting right now and did not take this request. Nothing was resumed; "
        "please run the command again in a few seconds."
    )


def requester(user_id: str) -> str:
    """Who asked, as a mention; a workflow run with no person and no name is "a workflow run"."""
    return f"<@{user_id}>" if user_id else "a workflow run"


def already_resuming(holder: AlreadyResuming, campaign_id: str) -> Message:
    return private(
        f":hourglass_flowing_sand: {requester(holder.user_id)} is already resuming `{campaign_id}` "
        f"(since {slack_date(holder.since)}). Nothing was sent twice; their result will show up in a moment."
    )


def not_your_workspace() -> Message:
    return private(
        ":no_entry: This button resumes campaigns with this workspace's Truedy account, and you are a guest "
        "from another organisation, so I did not resume anything. Ask someone from this workspace to click it."
    )


def invalid_button(value: str) -> Message:
    return private(
        f":warning: This button does not name a campaign (`{escape(value, 40).replace('`', chr(39))}`), so "
        f"nothing was resumed. Use `{COMMAND} <campaign id>` instead, and tell whoever posted the alert."
    )


def resuming(request: ResumeRequest) -> Message:
    text = f":hourglass_flowing_sand: <@{request.user_id}> is resuming `{request.campaign_id}`…"
    return {"text": text, "blocks": [section(text)]}


def not_started(request: ResumeRequest, why: NotStarted | AlreadyResuming) -> Message:
    """The final state of an "is resuming" message whose request never reached Truedy."""
    asked = f"<@{request.user_id}> asked to resume `{request.campaign_id}`"
    if isinstance(why, AlreadyResuming):
        text = (
            f":hourglass_flowing_sand: {asked}, but {requester(why.user_id)} is resuming it meanwhile: this request "
            "was not sent, so nothing was sent twice. Their result shows up in a moment."
        )
    else:
        text = f":pause_button: {asked}, but the bot was restarting: nothing was resumed. Run the command again."
    return {"text": text, "blocks": [section(text)]}


def abandoned(request: ResumeRequest, status: str | None) -> Message:
    """The final state of an "is resuming" message whose worker died before Truedy answered."""
    asked = f"<@{request.user_id}> asked to resume `{request.campaign_id}`, but the bot stopped before Truedy answered"
    if status == "paused":
        text = f":warning: {asked}: it is still paused. Run the command again to resume it."
    elif status is None:
        text = f":warning: {asked}, and Truedy does not know the campaign any more. Nothing more will happen."
    else:
        text = f":information_source: {asked}. It is not paused any more: Truedy says `{_safe_status(status)}`."
    return {"text": text, "blocks": [section(text)]}


def looked_up_as_name(request: ResumeRequest) -> Message:
    """The final state of the "is resuming" message when what was typed turned out to be a name."""
    text = (
        f":mag: <@{request.user_id}> asked for `{request.campaign_id}`: no campaign has this id, so nothing was "
        "resumed; the paused campaigns with that name were offered to them."
    )
    return {"text": text, "blocks": [section(text)]}


def resumed_summary(request: ResumeRequest, outcome: ResumeOutcome) -> Message:
    """The final state of the "is resuming" message, readable at a glance in the channel."""
    who, campaign = f"<@{request.user_id}>", f"`{request.campaign_id}`"
    if isinstance(outcome, truedy.Resumed):
        when = f" {slack_date(outcome.resumed_at)}" if outcome.resumed_at else ""
        text = f":arrow_forward: {who} resumed {campaign}{when}."
    elif isinstance(outcome, truedy.NotResumable):
        text = f":information_source: {who} asked to resume {campaign}, but {explain(outcome)[0]}."
    elif outcome.outcome_unknown:
        text = (
            f":grey_question: {who} asked to resume {campaign}; it *may have resumed*: {explain(outcome)[0]}. "
            "Check it in the Truedy dashboard before trying again."
        )
    else:
        text = f":warning: {who} could not resume {campaign}: {explain(outcome)[0]}."
    return {"text": text, "blocks": [section(text)]}


def result_details(campaign_id: str, outcome: ResumeOutcome) -> Message:
    """The thread reply: what happened and what to do next."""
    if isinstance(outcome, truedy.Resumed):
        text = f":white_check_mark: `{campaign_id}` is resumed. {_resumed_state(outcome)}"
    elif outcome.outcome_unknown:
        headline, next_step = explain(outcome)
        text = f":grey_question: `{campaign_id}` *may have resumed*: {headline}.\n{next_step}"
    else:
        headline, next_step = explain(outcome)
        icon = ":information_source:" if isinstance(outcome, truedy.NotResumable) else ":x:"
        text = f"{icon} `{campaign_id}` was not resumed: {headline}.\n{next_step}"
    blocks = [section(text)]
    if outcome.request_id:
        blocks.append(context(f"Truedy request id: `{escape(outcome.request_id, 100)}`"))
        text += f" (Truedy request id: {escape(outcome.request_id, 100)})"
    return {"text": text, "blocks": blocks}


def private_notice_cannot_post(campaign_id: str, bot_user_id: str | None) -> Message:
    return private(
        f":hourglass_flowing_sand: Resuming `{campaign_id}`… I can't post in this conversation, so only "
        f"you will see the result. Invite {me(bot_user_id)} to the channel (`/invite` there, then my name) so "
        "the team sees resumes too."
    )


def private_result(campaign_id: str, outcome: ResumeOutcome) -> Message:
    return {**result_details(campaign_id, outcome), "response_type": "ephemeral"}


def _resumed_state(outcome: truedy.Resumed) -> str:
    when = f"Resumed {slack_date(outcome.resumed_at)}" if outcome.resumed_at else "Truedy did not say when"
    if outcome.status == "scheduled":
        return f"{when}; it is scheduled again and will call from its scheduled start."
    if outcome.status in (None, "active"):
        return f"{when}; calling continues from where it left off."
    return f"{when}; Truedy reports its status as `{_safe_status(outcome.status)}`."


def explain(error: truedy.TruedyError) -> tuple[str, str]:
    """(what happened, what to do), worded for the people in the channel."""
    said = f" Truedy said: “{escape(error.detail)}”" if error.detail else ""
    support = f"contact Truedy support{' with the request id below' if error.request_id else ''}"
    # What an unknown outcome asks of people: look before trying again (a second resume of a campaign that did
    # resume is refused by Truedy as "already running", so trying again is safe, only noisy).
    check_first = (
        "Check the campaign in the Truedy dashboard before trying again: if it did resume, trying again only "
        "tells you it is already running."
    )
    match error:
        case truedy.NotResumable():
            return _not_resumable(error.status, said)
        case truedy.RequestRefused():
            return (
                f"Truedy refused the request (HTTP {error.http_status}) although the campaign is still paused",
                f"Check the campaign in the Truedy dashboard; if it looks right, try again, and {support} if it "
                f"keeps happening.{said}",
            )
        case BotFailure():
            return ("something went wrong inside the bot once the request may have left for Truedy", check_first)
        case Interrupted():
            return ("the bot was restarting before Truedy answered", check_first)
        case NotSent():
            return (
                f"{error.detail}: nothing was sent to Truedy",
                "Try again in a minute; if it keeps failing, tell whoever runs the bot.",
            )
        case truedy.KeyRejected():
            return (
                "Truedy rejected this workspace's API key",
                "The key may have been revoked. A Truedy admin should create a new key (Truedy dashboard → "
                "Settings → API Keys) and have it set as this workspace's key in the bot's settings.",
            )
        case truedy.BillingProblem():
            return (
                "Truedy refused for a billing reason",
                "Check the plan and credits in the Truedy dashboard (trial, subscription, credits), "
                f"then try again.{said}",
            )
        case truedy.IpNotAllowed():
            return (
                "Truedy refused requests from the bot's IP address",
                "This workspace's API key has an IP allow-list that does not include the bot's server. "
                "Add the bot's outbound IP to the key's allow-list in the Truedy dashboard, or use a key without one.",
            )
        case truedy.CampaignNotFound():
            return (
                "Truedy has no campaign with this id in this workspace's account",
                "Check the id: copy it from the campaign's page in the Truedy dashboard. Campaigns of "
                "other Truedy accounts are not visible from this workspace.",
            )
        case truedy.RateLimited():
            when = f"after {slack_date(error.retry_at)}" if error.retry_at else "in a minute"
            return (
                "Truedy's rate limit for this workspace's key is reached",
                f"Nothing was resumed. Try again {when}.",
            )
        case truedy.TruedyServerError():
            return (
                f"Truedy had an internal error (HTTP {error.http_status})",
                f"It most likely did not resume, but Truedy did not say. {check_first} If this keeps happening, "
                f"{support}.",
            )
        case truedy.UnreadableAnswer() if error.http_status < 300:
            return (
                f"Truedy accepted the request (HTTP {error.http_status}) but its answer could not be read",
                f"It has probably resumed. {check_first}",
            )
        case truedy.UnreadableAnswer():
            return (
                f"Truedy's answer (HTTP {error.http_status}) was not one its API gives, perhaps from a proxy "
                "in between",
                f"It most likely did not resume, but nothing says so. {check_first} If this keeps happening, "
                f"{support}.",
            )
        case truedy.TruedyUnreachable():
            return (
                "the bot could not connect to Truedy",
                "Nothing was sent, so nothing was resumed. Try again in a minute; if it keeps failing, "
                "the bot's server may have lost its network.",
            )
        case truedy.NoAnswer():
            return (
                f"Truedy did not answer within {error.waited_seconds:g} seconds"
                if error.waited_seconds is not None
                else "the connection to Truedy broke before it answered",
                check_first,
            )
    return ("Truedy answered with an error", f"Check the campaign in the Truedy dashboard.{said}")


def _not_resumable(status: str | None, said: str) -> tuple[str, str]:
    known = {
        "active": ("it is already running", "Nothing to do: it is calling."),
        "scheduled": ("it is scheduled, not paused", "It will call from its scheduled start; nothing to resume."),
        "completed": ("it has completed", "Every contact has been handled; there is nothing left to resume."),
        "cancelled": (
            "it was cancelled",
            "Cancelled campaigns cannot be resumed. To call the remaining contacts, create a new campaign "
            "in the Truedy dashboard.",
        ),
        "failed": (
            "it has failed",
            "Failed campaigns cannot be resumed; open it in the Truedy dashboard to see what went wrong.",
        ),
        "draft": ("it is a draft that was never started", "Schedule it from the Truedy dashboard instead."),
    }
    if status in known:
        return known[status]
    if status:
        return (f"its status is `{_safe_status(status)}`", "Only paused campaigns can be resumed.")
    return (
        "Truedy says it cannot be resumed in its current state",
        f"Only paused campaigns can be resumed; check its status in the Truedy dashboard.{said}",
    )


def _safe_status(status: str) -> str:
    return status if re.fullmatch(r"[a-z_]{1,30}", status) else "unrecognised"


def private(text: str) -> Message:
    """A message only the person who asked sees."""
    return {"response_type": "ephemeral", "text": text}


# Slack refuses a whole message whose section or context text is longer than this.
BLOCK_TEXT = 3000


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _within_block(text)}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _within_block(text)}]}


def _within_block(text: str) -> str:
    # Callers keep their texts short; this is the last guard, so that a long one is cut, not the message lost.
    return text if len(text) <= BLOCK_TEXT else text[: BLOCK_TEXT - 1] + "…"
