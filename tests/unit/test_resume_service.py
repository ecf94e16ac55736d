"""The resume use-case on a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot import truedy
from bot.audit import AuditLog
from bot.authorization import Authorizer
from bot.campaign_id import CampaignId
from bot.inflight import InFlightResumes
from bot.poll_schedule import PollSchedule
from bot.resume import NotAllowed, NotConnected, ResumeRequest, ResumeService, WorkspaceNotConfigured
from bot.storage import resume_locks
from bot.workspaces import SetupChoices
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


def test_second_claim_names_who_holds_the_campaign_until_the_resume_ends(make_service):
    resumes, _ = make_service()
    assert resumes.claim(ALICE) is None
    holder = resumes.claim(BOB)
    assert holder is not None and holder.user_id == "U0ALICE01"
    assert datetime.now(UTC) - holder.since < timedelta(seconds=10)
    resumes.resume(ALICE)
    assert resumes.claim(BOB) is None


def test_the_same_campaign_id_in_another_workspace_is_another_campaign(make_service):
    resumes, _ = make_service()
    assert resumes.claim(ALICE) is None
    assert resumes.claim(OTHER_WORKSPACE) is None


def test_a_failed_resume_ends_the_claim_too(make_service):
    resumes, client = make_service(truedy.TruedyServerError("x", None, 500))
    resumes.claim(ALICE)
    assert isinstance(resumes.resume(ALICE), truedy.TruedyServerError)
    assert resumes.claim(BOB) is None
    assert client.calls == [("truedy_key_bot", "batch_c3d4e5f6")]


def test_a_claim_left_by_a_dead_worker_expires(make_service, engine):
    resumes, _ = make_service()
    assert resumes.claim(ALICE) is None
    with engine.begin() as connection:
        connection.execute(resume_locks.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert resumes.claim(BOB) is None


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
    assert results.count(None) == 1


def test_each_workspace_resumes_with_its_own_key(make_service):
    resumes, client = make_service()
    resumes.claim(OTHER_WORKSPACE)
    resumes.resume(OTHER_WORKSPACE)
    assert client.calls == [("truedy_key_other", "batch_c3d4e5f6")]


def test_a_workspace_without_a_key_is_never_served_with_another_key(make_service):
    resumes, client = make_service()
    stranger = ResumeRequest("T0NOKEY01", "U0DAVE001", CampaignId("batch_c3d4e5f6"), via="command")
    resumes.claim(stranger)
    with pytest.raises(WorkspaceNotConfigured):
        resumes.resume(stranger)
    assert client.calls == []
    assert resumes.claim(stranger) is None  # the claim ended anyway


def test_every_attempt_is_audited(make_service, engine):
    resumes, _ = make_service()
    resumes.claim(ALICE)
    resumes.claim(BOB)  # refused: Alice holds it
    resumes.resume(ALICE)
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
    assert resumes.admit(stranger, slack=None) == NotConnected("T0NOKEY01")
    workspaces.save_setup(ALICE.workspace, SetupChoices(None, None, ("U0ALICE01",), ()), "U0ADMIN01")
    refused = resumes.admit(BOB, slack=None)
    assert isinstance(refused, NotAllowed) and refused.settings.allowed_users == ("U0ALICE01",)
    assert resumes.admit(ALICE, slack=None) is None
    assert resumes.admit(ALICE, slack=None).user_id == "U0ALICE01"  # now held
