import pytest

from bot.truedy.campaign_id import CampaignId, InvalidCampaignId, parse_campaign_id


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("batch_c3d4e5f6", "batch_c3d4e5f6"),
        ("  batch_c3d4e5f6\n", "batch_c3d4e5f6"),
        ("`batch_c3d4e5f6`", "batch_c3d4e5f6"),
        ("```batch_c3d4e5f6```", "batch_c3d4e5f6"),
        ('"batch_c3d4e5f6"', "batch_c3d4e5f6"),
        ("'batch_c3d4e5f6'", "batch_c3d4e5f6"),
        ("“batch_c3d4e5f6”", "batch_c3d4e5f6"),
        (" ` batch_c3d4e5f6 ` ", "batch_c3d4e5f6"),
        ("camp_ccaaff66-6", "camp_ccaaff66-6"),
        ("123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-426614174000"),
    ],
)
def test_accepts_ids_as_people_paste_them(typed, expected):
    parsed = parse_campaign_id(typed)
    assert isinstance(parsed, CampaignId)
    assert parsed == expected


@pytest.mark.parametrize(
    "typed, reason",
    [
        ("", "no campaign id"),
        ("``", "no campaign id"),
        ("<@U0ALICE01>", "mention of a person"),
        ("<#C0OPS0001|ops>", "a channel"),
        ("<!channel>", "special mention"),
        ("batch_1 batch_2", "more than one word"),
        ("batch_1\nbatch_2", "more than one word"),
        ("a" * 300, "300 characters"),
        ("../admin", "only letters, digits"),
        ("batch_1/../../api-keys", "only letters, digits"),
        ("batch_1?status=paused", "only letters, digits"),
        ("batch_1#x", "only letters, digits"),
        ("%2e%2e", "only letters, digits"),
        ("batch%2Fresume", "only letters, digits"),
        ("batch\x00id", "only letters, digits"),
        ("batch\u202eid", "only letters, digits"),
        ("bätch_1", "only letters, digits"),
        ("_batch", "only letters, digits"),
        ("ab", "too short"),
    ],
)
def test_refuses_anything_that_could_leave_the_resume_path(typed, reason):
    parsed = parse_campaign_id(typed)
    assert isinstance(parsed, InvalidCampaignId)
    assert reason in parsed.reason
