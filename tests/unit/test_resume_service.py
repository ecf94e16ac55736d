import threading

from bot import truedy
from bot.campaign_id import CampaignId
from bot.resume import ResumeRequest, ResumeService

ALICE = ResumeRequest("T0BOT0001", "U0ALICE01", CampaignId("batch_c3d4e5f6"), via="button")
BOB = ResumeRequest("T0BOT0001", "U0BOB0001", CampaignId("batch_c3d4e5f6"), via="button")
OTHER_WORKSPACE = ResumeRequest("T0OTHER01", "U0CAROL01", CampaignId("batch_c3d4e5f6"), via="button")


class RecordingTruedy:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def resume(self, api_key, campaign_id):
        self.calls.append((api_key, campaign_id))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def service(answer=None) -> tuple[ResumeService, RecordingTruedy]:
    client = RecordingTruedy(answer or truedy.Resumed("batch_c3d4e5f6", "active", None, "req_1"))
    return ResumeService(client, {"T0BOT0001": "truedy_key_bot", "T0OTHER01": "truedy_key_other"}), client


def test_second_claim_names_who_holds_the_campaign_until_the_resume_ends():
    resumes, _ = service()
    assert resumes.claim(ALICE) is None
    holder = resumes.claim(BOB)
    assert holder is not None and holder.user_id == "U0ALICE01"
    resumes.resume(ALICE)
    assert resumes.claim(BOB) is None


def test_the_same_campaign_id_in_another_workspace_is_another_campaign():
    resumes, _ = service()
    assert resumes.claim(ALICE) is None
    assert resumes.claim(OTHER_WORKSPACE) is None


def test_a_failed_resume_ends_the_claim_too():
    resumes, client = service(truedy.TruedyServerError("x", None, 500))
    resumes.claim(ALICE)
    assert isinstance(resumes.resume(ALICE), truedy.TruedyServerError)
    assert resumes.claim(BOB) is None
    assert client.calls == [("truedy_key_bot", "batch_c3d4e5f6")]


def test_concurrent_claims_admit_exactly_one():
    resumes, _ = service()
    start = threading.Barrier(20)
    results = []

    def claim(n: int) -> None:
        start.wait()
        results.append(resumes.claim(ResumeRequest("T0BOT0001", f"U{n}", CampaignId("batch_c3d4e5f6"), "button")))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(None) == 1


def test_each_workspace_resumes_with_its_own_key():
    resumes, client = service()
    resumes.claim(OTHER_WORKSPACE)
    resumes.resume(OTHER_WORKSPACE)
    assert client.calls == [("truedy_key_other", "batch_c3d4e5f6")]
