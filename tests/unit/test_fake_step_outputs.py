"""The fake Slack refuses a step's outputs as Slack does: only the declared names, every required one, each of
its declared type."""

from bot.slack.manifest import STEPS
from tests.fakes.slack import output_problems

RESUME = STEPS["resume_campaign"]


def test_declared_outputs_of_their_types_are_accepted():
    resumed = {"campaign_id": "batch_c3d4e5f6", "status": "active", "resumed_at": 1764400000}
    assert output_problems(RESUME, resumed) == []
    assert output_problems(RESUME, {"campaign_id": "batch_c3d4e5f6", "status": "active"}) == []  # optional left out


def test_unknown_missing_and_mistyped_outputs_are_refused():
    assert output_problems(RESUME, {"campaign_id": "b", "status": "active", "extra": 1}) == [
        "extra: not an output of this step"
    ]
    assert output_problems(RESUME, {"campaign_id": "b"}) == ["status: required"]
    assert output_problems(RESUME, {"campaign_id": "b", "status": "active", "resumed_at": "2026-11-29"}) == [
        "resumed_at: not a slack#/types/timestamp: '2026-11-29'"
    ]
    counts = STEPS["resume_all_paused"]
    wrong = {"total": True, "resumed": 1, "failed": 0, "unknown": 0, "not_tried": 0, "finished": "yes"}
    assert output_problems(counts, wrong) == ["total: not a integer: True", "finished: not a boolean: 'yes'"]
    assert output_problems(RESUME, "{}") == ["outputs: not an object"]
