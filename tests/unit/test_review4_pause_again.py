"""Review 4 of Pause again, below the worker: the click's flow (bot.slack.pause_again) and the sweep
(bot.runners.pause_offers) on a real database, with Slack and Truedy stubbed. Each test fails today."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.error import URLError

from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from bot import truedy
from bot.runners.pause_offers import PauseOfferSweeps
from bot.slack import pause_again
from bot.storage import pause_offers
from bot.storage.audit import AuditLog
from bot.storage.inflight import InFlightResumes
from bot.storage.pause_again import PauseOffers, Taken
from bot.storage.workspace_settings import WorkspaceId

HERE = WorkspaceId("", "T0AAA0001")
CAMPAIGN = "batch_r4end0001"


class SlackStub:
    def __init__(self):
        self.posted: list[dict] = []
        self.updated: list[dict] = []

    def chat_postMessage(self, **params):
        self.posted.append(params)
        return {"ok": True, "channel": params["channel"], "ts": "1700000000.000900"}

    def chat_update(self, **params):
        self.updated.append(params)
        return {"ok": True}


class TruedyStub:
    def pause(self, api_key: str, campaign_id: str) -> truedy.Paused:
        return truedy.Paused(campaign_id, "req_r4")


class EndNotRecorded(PauseOffers):
    """The database refuses the one statement that records Truedy's answer (a connection lost just then)."""

    def end(self, taken: Taken, outcome: str, unknown: bool) -> bool:
        raise OperationalError("UPDATE pause_offers", {}, Exception("server closed the connection unexpectedly"))


def test_a_pause_whose_ending_the_database_missed_is_not_said_interrupted_by_the_sweep_later(engine):
    """Truedy paused the campaign and the thread said so, but the database refused to record the ending (caught:
    "said anyway"). The row stays `sending` under a lease nobody renews; once it is over, the sweep ends it as a
    dead process's pause: the thread is also told "The bot stopped while pausing… it *may have been paused*", the
    audit gets `interrupted` after `paused`, and the message is put back to the resume's summary (the "Paused again
    by" note gone). Should: the ending kept for later (as a schedule's `unrecorded` move is), or at least not
    contradicted: one outcome in the thread, the message saying it was paused again."""
    offers = EndNotRecorded(engine)
    shown = {"text": "resumed", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "resumed"}}]}
    offer = offers.offer(HERE, CAMPAIGN, None, "U0ALICE01", "announcement", ("C0R4", "1.1", "1.1"), shown, 10)
    taken = offers.take(HERE, offer.id, "U0BOB0001")
    assert isinstance(taken, Taken)
    slack, audit = SlackStub(), AuditLog(engine)
    services = SimpleNamespace(
        pause_offers=offers,
        truedy=TruedyStub(),
        audit=audit,
        in_flight=InFlightResumes(engine),
        dashboard_url=None,
    )

    pause_again._pause(services, "truedy_key", taken, "U0BOB0001", slack, lambda **_: None)

    told = [p["text"] for p in slack.posted]
    assert any(f"paused `{CAMPAIGN}` again" in t for t in told), told
    # Two minutes later, as far as the lease goes.
    with engine.begin() as connection:
        connection.execute(update(pause_offers).values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    PauseOfferSweeps(offers, audit, lambda _workspace: slack).sweep()

    told = [p["text"] for p in slack.posted]
    assert not [t for t in told if "may have been paused" in t], ("paused, then said interrupted", told)
    assert "Paused again by" in str(slack.updated[-1]["blocks"]), slack.updated[-1]


class SlackOutOfReachForThePost(SlackStub):
    """Slack cannot be reached for the thread's reply (a network error, not a refusal), then can again."""

    def chat_postMessage(self, **params):
        raise URLError(TimeoutError("timed out"))


def test_a_thread_reply_slack_cannot_take_still_leaves_the_message_saying_it_was_paused_again(engine):
    """A network error from Slack (not a SlackApiError) on the thread's reply went up through the flow: the message
    kept saying "Pausing again…" for good, though the campaign was paused and recorded so."""
    offers = PauseOffers(engine)
    shown = {"text": "resumed", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "resumed"}}]}
    offer = offers.offer(HERE, CAMPAIGN, None, "U0ALICE01", "announcement", ("C0R4", "1.1", "1.1"), shown, 10)
    taken = offers.take(HERE, offer.id, "U0BOB0001")
    assert isinstance(taken, Taken)
    slack = SlackOutOfReachForThePost()
    services = SimpleNamespace(
        pause_offers=offers, truedy=TruedyStub(), audit=AuditLog(engine), in_flight=InFlightResumes(engine)
    )

    pause_again._pause(services, "truedy_key", taken, "U0BOB0001", slack, lambda **_: None)

    assert "Paused again by" in str(slack.updated[-1]["blocks"]), slack.updated
