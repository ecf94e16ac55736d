"""Digests and resume all, as pure functions: within Slack's limits, escaped, and saying what happens."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.slack.blocks import digest_blocks, resume_all_blocks
from bot.storage.digests import Digest, DigestRow
from bot.storage.resume_all_jobs import JobItem, Progress, ResumeAllJob
from bot.storage.workspace_settings import WorkspaceId

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def job(state: str = "running", ending: str | None = None, not_before: datetime | None = None) -> ResumeAllJob:
    return ResumeAllJob(
        7, WorkspaceId("", "T1"), "U0ALICE01", "C1", "1.1", None, state, ending, "U0BOB0001", not_before
    )


def digest(kinds: list[str], name: str = "Wave") -> Digest:
    rows = [DigestRow(f"batch_d{n:05d}", f"{name} {n}", kind, None) for n, kind in enumerate(kinds)]
    return Digest(3, WorkspaceId("", "T1"), "C1", "1.1", 0, NOW, rows)


def test_the_progress_line_reads_as_the_issue_shows_it():
    line = resume_all_blocks.progress_line(
        Progress(total=130, resumed=37, not_paused=0, skipped=0, failed=2),
        resume_all_blocks.seconds_left(job(), Progress(130, 37, 0, 0, 2), NOW, per_minute=90),
    )
    assert line == "Resumed 37 of 130 · 2 failed · about 1 min left"


@pytest.mark.parametrize(
    "seconds, said",
    [(30, "less than a minute"), (89 * 60, "about 89 min"), (2 * 3600, "about 2 h"), (2000 * 60, "about 33 h 20 min")],
)
def test_long_durations_read_in_hours(seconds, said):
    line = resume_all_blocks.progress_line(Progress(130, 37, 0, 0, 2), seconds)
    assert line.endswith(f"{said} left")


def test_a_wait_for_the_rate_limit_counts_in_the_time_left_and_is_said():
    waiting = job(not_before=NOW + timedelta(minutes=3))
    counts = Progress(130, 100, 0, 0, 0)
    message = resume_all_blocks.progress(waiting, counts, NOW, 90, resume_all_blocks.rate_limited_note(NOW))
    assert "about 4 min left" in message["text"]
    assert "rate limit for this key was reached" in str(message["blocks"])


@pytest.mark.parametrize(
    "state, ending, headline, cancel",
    [
        ("running", None, ":arrow_forward: *Resuming all paused campaigns*", True),
        ("cancelling", None, ":hourglass_flowing_sand: *Cancelling resume all*, asked by <@U0BOB0001>", False),
        ("ended", "finished", ":white_check_mark: *Resume all finished*", False),
        ("ended", "cancelled", ":black_square_for_stop: *Resume all cancelled* by <@U0BOB0001>", False),
        ("ended", "stopped", ":octagonal_sign: *Resume all stopped*", False),
    ],
)
def test_the_progress_message_offers_cancel_only_while_it_runs(state, ending, headline, cancel):
    message = resume_all_blocks.progress(job(state, ending), Progress(130, 37, 0, 0, 2), NOW, 90)
    assert message["text"].startswith(headline)
    assert ("cancel_resume_all" in str(message["blocks"])) is cancel


def test_the_summary_names_every_failure_within_slacks_limits():
    items = [
        JobItem(n, f"batch_f{n:05d}", f"<!channel> {'x' * 60} {n}", "truedy_server_error", "Truedy had an error")
        for n in range(2000)
    ]
    ended = job("ended", "finished")
    message = resume_all_blocks.summary(ended, Progress(2000, 0, 0, 0, 2000), items)
    blocks = message["blocks"]
    assert len(blocks) <= 50 and all(
        len(b["elements"][0]["text"] if "elements" in b else b["text"]["text"]) <= 3000 for b in blocks
    )
    assert "<!channel>" not in json.dumps(blocks, ensure_ascii=False) and "&lt;!channel&gt;" in json.dumps(
        blocks, ensure_ascii=False
    )
    shown = json.dumps(blocks, ensure_ascii=False).count("batch_f")
    assert f"…and {2000 - shown} more: `/resume-campaign history`" in json.dumps(blocks, ensure_ascii=False)
    assert "The 2000 that failed are still paused" in json.dumps(blocks, ensure_ascii=False)


@pytest.mark.parametrize(
    "value, parsed",
    [
        ('{"job":12}', ("job", 12)),
        ('{"digest":3}', ("digest", 3)),
        ('{"job":"12"}', None),
        ('{"job":true}', None),
        ('{"digest":-1}', None),
        ('{"job":1,"digest":2}', None),
        ('{"task":1}', None),
        ("[1]", None),
        ("12", None),
        ("", None),
    ],
)
def test_only_the_buttons_own_values_start_anything(value, parsed):
    assert resume_all_blocks.parse_resume_all_value(value) == parsed


def test_the_confirm_dialog_says_how_many_and_how_long():
    button = resume_all_blocks.resume_all_button(130, 90, '{"job":1}')
    assert button["confirm"]["title"]["text"] == "Resume 130 campaigns?"
    assert "(about 2 min)" in button["confirm"]["text"]["text"]


def test_a_digest_of_any_size_fits_slacks_limits_and_counts_every_row():
    kinds = ["paused"] * 990 + ["resumed"] * 5 + ["over"] * 3 + ["resuming"] * 2
    message = digest_blocks.digest(digest(kinds, name="<@U0EVIL> *loud*"), per_minute=90)
    blocks = message["blocks"]
    assert len(blocks) <= 50 and len(json.dumps(blocks, ensure_ascii=False)) < 40_000
    assert blocks[0]["text"]["text"].startswith(":double_vertical_bar: *1000 campaigns paused*")
    assert "990 still paused · 2 being resumed · 5 resumed · 3 not paused any more" in json.dumps(
        blocks, ensure_ascii=False
    )
    rows = [b for b in blocks if b["type"] == "actions" and b["elements"][0]["action_id"] == "resume_digested"]
    assert len(rows) == 10 and all(row["elements"][1]["action_id"] == "resume_later" for row in rows)
    assert "…and 990 more" in json.dumps(blocks, ensure_ascii=False)
    assert "<@U0EVIL>" not in json.dumps(blocks, ensure_ascii=False)
    assert "Resume all 990" in json.dumps(blocks, ensure_ascii=False)


def test_a_digest_with_nothing_left_paused_offers_no_resume():
    message = digest_blocks.digest(digest(["resumed"] * 4 + ["over"] * 2), per_minute=90)
    assert "resume_all" not in json.dumps(message, ensure_ascii=False) and "resume_digested" not in json.dumps(
        message, ensure_ascii=False
    )
    assert "0 still paused · 4 resumed · 2 not paused any more" in message["text"]
