"""The resume use-case on a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot import truedy
from bot.authorization import Authorizer
from bot.resume import NotAllowed, NotConnected, ResumeRequest, ResumeService, WorkspaceNotConfigured
from bot.storage import resume_locks
from bot.storage.audit import AuditLog
from bot.storage.inflight import AlreadyResuming, Claim, InFlightResumes
from bot.storage.poll_turns import PollSchedule
from bot.storage.workspace_settings import SetupChoices
from bot.truedy.campaign_id import CampaignId
from tests.fakes.truedy import StubTruedyClient

ALICE = ResumeRequest("T0BOT0001", "U0ALICE01", CampaignId("batch_c3d4e5f6"), via="button")
BOB = ResumeRequest("T0BOT0001", "U0BOB0001", CampaignId("batch_c3d4e5f6"), via="command")
OTHER_WORKSPACE = ResumeRequest("T0OTHER01", "U0CAROL01", CampaignId("batch_c3d4e5f6"), via="button")


@pytest.fixture
def make_service(engine, workspaces):
    workspaces.seed_keys({"T0BOT0001": "truedy_key_bot", "T0OTHER01": "truedy_key_other"})

    def make(answer=None):
        client = StubTruedyClient(answer or truedy.Resumed("batch_c3d4e5f6", "active", None, "req_1"))
        resumes = ResumeService(
            client, workspaces, Authorizer(), InFlightResumes(engine), AuditLog(engine), PollSchedule(engine)
        )
        return resumes, client

    return make


def test_second_claim_names_who_holds_the_campaign_until_it_is_released(make_service):
    resumes, _ = make_service()
    alice = resumes.claim(ALICE)
    assert isinstance(alice, Claim)
    holder = resumes.claim(BOB)
    assert isinstance(holder, AlreadyResuming) and holder.user_id == "U0ALICE01"
    assert datetime.now(UTC) - holder.since < timedelta(seconds=10)
    resumes.resume(ALICE, alice)
    assert isinstance(resumes.claim(BOB), AlreadyResuming)  # released only once the result is shown
    resumes.release(alice)
    assert isinstance(resumes.claim(BOB), Claim)


def test_the_same_campaign_id_in_another_workspace_is_another_campaign(make_service):
    resumes, _ = make_service()
    assert isinstance(resumes.claim(ALICE), Claim)
    assert isinstance(resumes.claim(OTHER_WORKSPACE), Claim)


def test_a_claim_left_by_a_dead_worker_expires(make_service, engine):
    resumes, _ = make_service()
    assert isinstance(resumes.claim(ALICE), Claim)
    expire_every_claim(engine)
    assert isinstance(resumes.claim(BOB), Claim)


def test_a_held_claim_is_kept_alive_however_long_its_resume_waits(make_service, engine):
    in_flight = InFlightResumes(engine)
    alice = in_flight.claim("", "T0BOT0001", "batch_c3d4e5f6", "U0ALICE01")
    expire_every_claim(engine)  # as if the resume had waited in the queue longer than the TTL
    in_flight.refresh_held()  # what the worker's keeper thread does every few seconds
    assert isinstance(in_flight.claim("", "T0BOT0001", "batch_c3d4e5f6", "U0BOB0001"), AlreadyResuming)
    in_flight.release(alice)
    in_flight.refresh_held()  # a released claim is no longer kept
    assert isinstance(in_flight.claim("", "T0BOT0001", "batch_c3d4e5f6", "U0BOB0001"), Claim)


def test_a_late_release_never_removes_someone_elses_claim(make_service, engine):
    in_flight = InFlightResumes(engine)
    alice = in_flight.claim("", "T0BOT0001", "batch_c3d4e5f6", "U0ALICE01")
    expire_every_claim(engine)
    bob = in_flight.claim("", "T0BOT0001", "batch_c3d4e5f6", "U0BOB0001")
    assert isinstance(bob, Claim)
    in_flight.release(alice)
    holder = in_flight.claim("", "T0BOT0001", "batch_c3d4e5f6", "U0CAROL01")
    assert isinstance(holder, AlreadyResuming) and holder.user_id == "U0BOB0001"


def test_a_resume_starting_after_its_claim_expired_takes_it_back_if_nobody_else_did(make_service, engine):
    resumes, _ = make_service()
    alice = resumes.claim(ALICE)
    expire_every_claim(engine)
    assert isinstance(resumes.resume(ALICE, alice), truedy.Resumed)
    assert isinstance(resumes.claim(BOB), AlreadyResuming)  # refreshed when the resume started


def expire_every_claim(engine) -> None:
    with engine.begin() as connection:
        connection.execute(resume_locks.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))


def test_concurrent_claims_admit_exactly_one(make_service):
    resumes, _ = make_service()
    start = threading.Barrier(12)
    results = []

    def claim(n: int) -> None:
        start.wait()
        results.append(resumes.claim(ResumeRequest("T0BOT0001", f"U{n}", CampaignId("batch_c3d4e5f6"), "button")))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(result, Claim) for result in results) == 1


def test_each_workspace_resumes_with_its_own_key(make_service):
    resumes, client = make_service()
    resumes.resume(OTHER_WORKSPACE, resumes.claim(OTHER_WORKSPACE))
    assert client.calls == [("truedy_key_other", "batch_c3d4e5f6")]


def test_a_workspace_without_a_key_is_never_served_with_another_key(make_service):
    resumes, client = make_service()
    stranger = ResumeRequest("T0NOKEY01", "U0DAVE001", CampaignId("batch_c3d4e5f6"), via="command")
    with pytest.raises(WorkspaceNotConfigured):
        resumes.resume(stranger, resumes.claim(stranger))
    assert client.calls == []


def test_every_attempt_is_audited(make_service, engine):
    resumes, _ = make_service()
    alice = resumes.claim(ALICE)
    resumes.claim(BOB)  # refused: Alice holds it
    resumes.resume(ALICE, alice)
    resumes.record_refusal(OTHER_WORKSPACE, "not_allowed")
    audit = AuditLog(engine)
    entries = audit.latest("T0BOT0001")
    assert [(e.user_id, e.via, e.outcome, e.truedy_request_id) for e in entries] == [
        ("U0ALICE01", "button", "resumed", "req_1"),
        ("U0BOB0001", "command", "already_in_flight", None),
    ]
    assert isinstance(entries[0].latency_ms, int)
    assert [e.outcome for e in audit.latest("T0OTHER01")] == ["not_allowed"]
    assert audit.latest("T0BOT0001", campaign_id="batch_other") == []


def test_admission_refuses_unconnected_and_unlisted_requesters_and_claims_for_the_rest(make_service, workspaces):
    resumes, _ = make_service()
    stranger = ResumeRequest("T0NOKEY01", "U0DAVE001", CampaignId("batch_c3d4e5f6"), via="command")
    assert resumes.admit(stranger, slack=None) == NotConnected(key_unreadable=False)
    workspaces.save_setup(ALICE.workspace, SetupChoices(None, None, ("U0ALICE01",), ()), "U0ADMIN01")
    refused = resumes.admit(BOB, slack=None)
    assert isinstance(refused, NotAllowed) and refused.settings.allowed_users == ("U0ALICE01",)
    assert isinstance(resumes.admit(ALICE, slack=None), Claim)
    assert resumes.admit(ALICE, slack=None).user_id == "U0ALICE01"  # now held
