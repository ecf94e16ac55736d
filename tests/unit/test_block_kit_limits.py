"""Every Block Kit builder rendered at its largest (2,000 campaigns, 150-character names full of markup,
every error) passes the rules Slack enforces, as the fake Slack checks them (tests/fakes/block_kit.py)."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot import truedy
from bot.resume import BotFailure, Interrupted, NotStarted, ResumeRequest
from bot.slack.blocks import (
    alert_blocks,
    digest_blocks,
    home_blocks,
    list_blocks,
    messages,
    pause_blocks,
    resume_all_blocks,
    setup_blocks,
)
from bot.storage.audit import AuditEntry
from bot.storage.digests import Digest, DigestRow
from bot.storage.inflight import AlreadyResuming
from bot.storage.pause_again import NotTaken, PauseOffer
from bot.storage.resume_all_jobs import JobItem, Progress, ResumeAllJob
from bot.storage.workspace_settings import WorkspaceId, WorkspaceSettings
from bot.truedy.campaign_id import CampaignId
from tests.fakes import block_kit

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
LONG_NAME = ("<!channel> & *Q2* `Renewals` <https://x|y> " * 5)[:150]
MOST = 2000
WORKSPACE = WorkspaceId("E0GRID001", "T0BOT0001")
CAMPAIGN = CampaignId("batch_" + "x" * 58)  # the longest id allowed


def campaign(n: int) -> truedy.Campaign:
    return truedy.Campaign(f"batch_{n:058d}", LONG_NAME, "paused", 10**9, 10**9, 10**9, 10**9, 10**9, NOW, "r" * 100)


EVERY_OUTCOME = [
    truedy.Resumed(CAMPAIGN, "scheduled", NOW, "r" * 100),
    truedy.Resumed(CAMPAIGN, "x" * 500, None, None),
    truedy.NotResumable("m" * 500, "r" * 100, "completed"),
    truedy.NotResumable("m" * 500, None, None),
    truedy.RequestRefused("m" * 500, "r" * 100, 422),
    truedy.KeyRejected("m" * 500, "r" * 100),
    truedy.BillingProblem("m" * 500, "r" * 100),
    truedy.IpNotAllowed("m" * 500, "r" * 100),
    truedy.CampaignNotFound("m" * 500, "r" * 100),
    truedy.RateLimited("m" * 500, "r" * 100, NOW),
    truedy.RateLimited("m" * 500, None, None),
    truedy.TruedyServerError("m" * 500, "r" * 100, 503),
    truedy.UnreadableAnswer("m" * 500, "r" * 100, 200),
    truedy.UnreadableAnswer("m" * 500, None, 502),
    truedy.TruedyUnreachable("m" * 500),
    truedy.NoAnswer("m" * 500, 20.0),
    truedy.NoAnswer("m" * 500, None),
    BotFailure("the bot failed while resuming"),
    Interrupted("the bot was restarting before Truedy answered"),
]


def assert_message_accepted(message: dict) -> None:
    assert block_kit.message_problems(message) == [], message.get("text")


def assert_view_accepted(view: dict) -> None:
    assert block_kit.view_problems(view) == []


def job(ending: str | None = None, state: str = "running") -> ResumeAllJob:
    return ResumeAllJob(1, WORKSPACE, "U0ALICE01", "C0RESALL1", "1.1", 7, state, ending, "U0BOB0001", NOW)


@pytest.mark.parametrize("outcome", EVERY_OUTCOME, ids=lambda outcome: type(outcome).__name__)
def test_every_answer_about_a_resume_fits(outcome):
    request = ResumeRequest("T0BOT0001", "U0ALICE01", CAMPAIGN, "button", "E0GRID001")
    assert_message_accepted(messages.result_details(CAMPAIGN, outcome))
    assert_message_accepted(messages.resumed_summary(request, outcome))
    assert_message_accepted(messages.private_result(CAMPAIGN, outcome))
    alert = alert_blocks.alert(campaign(1), "https://app.truedy.ai/campaigns/{id}?" + "q" * 2000)
    state, offer = alert_blocks.final_state("U0ALICE01", outcome, NOW)
    assert_message_accepted({**alert, "blocks": alert_blocks.with_state(alert["blocks"], state, offer)})


def test_the_other_answers_fit():
    request = ResumeRequest("T0BOT0001", "U0ALICE01", CAMPAIGN, "command")
    holder = AlreadyResuming("U0BOB0001", NOW)
    for message in (
        messages.usage(),
        messages.invalid_campaign_id("x" * 4000, "r" * 500),
        messages.resuming(request),
        messages.not_started(request, NotStarted()),
        messages.not_started(request, holder),
        messages.already_resuming(holder, CAMPAIGN),
        messages.looked_up_as_name(request),
        messages.shutting_down(),
        messages.bot_failure(),
        messages.database_unavailable(),
        messages.invalid_button("v" * 2000),
        messages.history([AuditEntry(NOW, "U0ALICE01", CAMPAIGN, "resume_all", "x" * 32, "r" * 100, 1)] * 10, None),
        list_blocks.listing_failed("h" * 500, "a" * 500),
    ):
        assert_message_accepted(message)


def test_every_page_of_the_list_fits():
    campaigns = [campaign(n) for n in range(MOST)]
    for offset in range(0, MOST + list_blocks.PAGE_SIZE, list_blocks.PAGE_SIZE):
        page = truedy.CampaignPage(campaigns[offset : offset + 100], offset + 100 < MOST, MOST, None)
        assert_message_accepted(list_blocks.paused_list(page, offset, done="d" * 3000))
    assert_message_accepted(list_blocks.name_matches("n" * 3000, campaigns, 20))
    assert_message_accepted(list_blocks.name_matches("n" * 3000, campaigns[:1], 20))


def test_the_home_tab_fits():
    settings = WorkspaceSettings(
        WORKSPACE, "k", "0001", "slack", NOW, "C0ALERT01", ("U1",) * 500, ("S1",) * 100, "U0ADMIN01", NOW, "t", "s"
    )
    page = truedy.CampaignPage([campaign(n) for n in range(100)], True, MOST, None)
    latest = [AuditEntry(NOW, "U0ALICE01", CAMPAIGN, "resume_all", "x" * 32, "r" * 100, 1)] * 10
    for paused in (page, "r" * 3000):
        assert_view_accepted(home_blocks.home(settings, paused, latest, may_set_up=True))


def test_a_digest_of_2000_campaigns_fits_in_every_state():
    kinds = ["paused", "resuming", "resumed", "over", "failed"]
    rows = [DigestRow(f"batch_{n:058d}", LONG_NAME, kinds[n % 5], "l" * 1000) for n in range(MOST)]
    digest = Digest(1, WORKSPACE, "C0ALERT01", "1.1", 3, NOW, rows)
    assert_message_accepted(digest_blocks.digest(digest, 1))


def test_resume_all_fits_from_offer_to_summary():
    assert_message_accepted(resume_all_blocks.proposal(MOST, 10**12, 1, complete=False))
    for state, ending in (("running", None), ("cancelling", None), ("ended", "finished"), ("ended", "cancelled")):
        counts = Progress(MOST, 500, 500, 500, 499)
        note = resume_all_blocks.rate_limited_note(NOW + timedelta(days=1))
        assert_message_accepted(resume_all_blocks.progress(job(ending, state), counts, NOW, 1, note))
    outcomes = ["not_resumable", "skipped", "truedy_server_error", "interrupted", None]
    items = [
        JobItem(n, f"batch_{n:058d}", LONG_NAME, outcomes[n % 5], "d" * 500 if outcomes[n % 5] else None)
        for n in range(MOST)
    ]
    for ending in ("finished", "cancelled", "stopped"):
        assert_message_accepted(
            resume_all_blocks.summary(job(ending, "ended"), Progress(MOST, 0, 400, 400, 800), items)
        )


def test_pause_all_again_fits_from_its_offer_to_its_summary():
    """The offer under a resume-all's summary (as many failures as it can name), and the pause-all job's messages."""
    outcomes = ["not_resumable", "skipped", "truedy_server_error", "interrupted", None, "resumed"]
    items = [
        JobItem(n, f"batch_{n:058d}", LONG_NAME, outcomes[n % 6], "d" * 500 if outcomes[n % 6] else None)
        for n in range(MOST)
    ]
    counts = Progress(MOST, 400, 400, 400, 400)
    offering = replace(job("finished", "ended"), undo_until=NOW + timedelta(minutes=10))
    summary = resume_all_blocks.summary(offering, counts, items)
    assert_message_accepted(summary)
    assert resume_all_blocks.PAUSE_ALL_AGAIN_ACTION_ID in str(summary["blocks"][-1])
    assert_message_accepted(resume_all_blocks.summary(replace(offering, undo_taken_by="U0BOB0001"), counts, items))
    pausing = replace(job(), action="pause", undoes=1)
    for state, ending in (("running", None), ("cancelling", None), ("ended", "finished"), ("ended", "stopped")):
        message = resume_all_blocks.progress(replace(pausing, state=state, ending=ending), counts, NOW, 1)
        assert_message_accepted(message)
        assert "resum" not in message["text"].replace("resume all resumed", "").lower()
    assert_message_accepted(
        resume_all_blocks.summary(replace(pausing, state="ended", ending="finished"), counts, items)
    )


def test_the_setup_modal_fits_with_every_group_and_every_setting():
    settings = WorkspaceSettings(
        WORKSPACE, "k", "0001", "slack", NOW, "C0ALERT01", ("U1",) * 100, ("S0000",), "U0ADMIN01", NOW, "t" * 64, "s"
    )
    groups = [(f"S{n:08d}", "h" * 75) for n in range(5000)]
    assert_view_accepted(setup_blocks.setup_modal(settings, groups, {"channel": "C" * 20}, "https://" + "h" * 200))


def test_the_unattended_runs_box_reads_ticked_unticked_or_absent():
    def submitted(state: dict | None) -> bool | None:
        values = {"unattended_runs": {"value": state}} if state is not None else {}
        return setup_blocks.submitted_choices({"state": {"values": values}}).allow_unattended

    ticked = {
        "type": "checkboxes",
        "selected_options": [{"text": {"type": "plain_text", "text": "x"}, "value": "allow"}],
    }
    assert submitted(ticked) is True
    assert submitted({"type": "checkboxes", "selected_options": []}) is False  # Slack sends the empty box
    assert submitted(None) is None  # no such field in the form: the saved choice is kept


PAUSE_OUTCOMES = [
    truedy.Paused(CAMPAIGN, "r" * 100),
    truedy.NotPausable("x" * 500, "r" * 100, "paused"),
    truedy.NotPausable("x" * 500, None, None),
    truedy.RequestRefused("x" * 500, None, 409),
    truedy.RateLimited("x", None, NOW),
    truedy.NoAnswer("x", 10.0),
    truedy.UnreadableAnswer("x", None, 200),
    truedy.TruedyServerError("x", None, 503),
    truedy.KeyRejected("x"),
    BotFailure("the bot failed while pausing"),
]


def pause_offer(state: str = "offered") -> PauseOffer:
    summary = messages.resumed_summary(
        ResumeRequest("T0BOT0001", "U0ALICE01", CAMPAIGN, "command"), truedy.Resumed(CAMPAIGN, "active", NOW, None)
    )
    return PauseOffer(
        7,
        WORKSPACE,
        CAMPAIGN,
        LONG_NAME,
        "U0ALICE01",
        "alert",
        "C0OPS0001",
        "1.2",
        "1.2",
        summary,
        NOW,
        state,
        "U0BOB0001",
        None,
    )


@pytest.mark.parametrize("outcome", PAUSE_OUTCOMES, ids=lambda o: type(o).__name__)
def test_every_pause_again_message_fits(outcome):
    offer = pause_offer()
    for message in (
        pause_blocks.with_offer(offer.shown, offer),
        pause_blocks.with_offer(pause_blocks.with_offer(offer.shown, offer), offer),  # offered again: one button
        pause_blocks.pausing(offer.shown, "U0BOB0001"),
        pause_blocks.paused_again_summary(offer.shown, "U0BOB0001", NOW),
        pause_blocks.result(offer, "U0BOB0001", outcome),
        pause_blocks.stopped_while_pausing(offer),
        *(
            pause_blocks.not_taken(NotTaken(pause_offer(state), state == "withdrawn"))
            for state in ("taken", "sending", "paused", "refused", "unknown", "withdrawn")
        ),
        pause_blocks.not_taken(NotTaken(None, False)),
    ):
        assert block_kit.message_problems(message) == [], message
    twice = pause_blocks.with_offer(pause_blocks.with_offer(offer.shown, offer), offer)["blocks"]
    assert [b.get("block_id") for b in twice].count(pause_blocks.OFFER_BLOCK_ID) == 1
