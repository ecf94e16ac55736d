"""`/resume-campaign list` (and no argument): the paused campaigns privately, in pages, each with a Resume
button that resumes as the alert's does, announced in the channel."""

import pytest

from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.truedy import Scripted, campaign


@pytest.fixture(scope="module")
def listing(loop, tmp_path_factory):
    stack = start_stack(loop, tmp_path_factory.mktemp("list"), TRUEDY_READ_TIMEOUT="1")
    # 130 paused (two pages of Truedy's at 100), and some that are not.
    stack.truedy.add(
        KEY_BOT_TEAM,
        *(campaign(f"batch_list{n:04d}", name=f"Outreach <wave> *{n}*") for n in range(130)),
        *(campaign(f"batch_busy{n:04d}", status="running") for n in range(5)),
    )
    yield stack
    stop_stack(stack)


def listed_ids(message: dict) -> list[str]:
    return [
        block["accessory"]["value"].split('"')[3]
        for block in message["blocks"]
        if block.get("accessory", {}).get("action_id") == "resume_listed"
    ]


def reply_to(stack, payload: dict, count: int = 1) -> dict:
    return wait_until(lambda: stack.slack.responses_to(payload)[count - 1 :], 10, "the list")[0].params


@pytest.mark.parametrize("text", ["list", ""])
def test_the_list_shows_every_paused_campaign_in_pages(listing, text):
    stack = listing
    payload, ack = stack.command(text, channel_id="C0LIST001")
    assert ack.payload is None  # the list comes after the ack
    message, seen = reply_to(stack, payload), []
    while True:
        assert message["response_type"] == "ephemeral" and len(message["blocks"]) <= 50
        seen += listed_ids(message)
        more = [b for b in message["blocks"] if b.get("block_id") == "list_pages"]
        labels = [e["text"]["text"] for e in more[0]["elements"]] if more else []
        if "Show more" not in labels:
            break
        click = stack.slack.click_private(message, "list_page_next", "C0LIST001")
        stack.slack.wait_ack(stack.slack.push("interactive", click))
        message = reply_to(stack, click)
        assert message["replace_original"] is True
    assert seen == [f"batch_list{n:04d}" for n in range(130)]
    assert "of 130" in message["blocks"][0]["text"]["text"]
    assert "&lt;wave&gt;" in str(message["blocks"]) and "<wave>" not in str(message["blocks"])
    lists = [r for r in stack.truedy.lists() if "status=paused" in r.query]
    assert all(r.authorization == f"Bearer {KEY_BOT_TEAM}" for r in lists)
    assert stack.slack.posts_in("C0LIST001") == []  # private: nothing in the channel


def test_a_resume_from_the_list_is_announced_in_the_channel_and_the_list_shows_it(listing):
    stack = listing
    payload, _ = stack.command("list", channel_id="C0LIST002", user_id="U0BOB0001")
    message = reply_to(stack, payload)
    first = listed_ids(message)[0]
    click = stack.slack.click_private(message, "resume_listed", "C0LIST002", user_id="U0BOB0001")
    stack.slack.wait_ack(stack.slack.push("interactive", click))
    announcement, reply, _ = stack.result_in_thread("C0LIST002", first)
    assert announcement.params["text"].startswith(f":hourglass_flowing_sand: <@U0BOB0001> is resuming `{first}`")
    assert "is resumed" in reply.params["text"]
    refreshed = wait_until(
        lambda: [r.params for r in stack.slack.responses_to(click) if r.params.get("replace_original")], 10, "the list"
    )[-1]
    assert first not in listed_ids(refreshed)
    assert f"<@U0BOB0001> resumed `{first}`" in refreshed["blocks"][0]["elements"][0]["text"]
    history, _ = stack.command(f"history {first}", channel_id="C0LIST002")
    assert f"`{first}` · list · resumed" in reply_to(stack, history)["text"]


def test_when_truedy_cannot_list_the_person_is_told_what_to_do(listing):
    stack = listing
    stack.truedy.script(Scripted(hang=True, path="/api/public/v1/batch-calls"))
    payload, _ = stack.command("list", channel_id="C0LIST003")
    told = reply_to(stack, payload)
    assert told["text"].startswith(":warning: I could not list the paused campaigns:")
    assert stack.slack.posts_in("C0LIST003") == []


def test_a_forged_list_button_reaches_nothing(listing):
    stack = listing
    payload, _ = stack.command("list", channel_id="C0LIST004")
    message = reply_to(stack, payload)
    before = len(stack.truedy.resumes())
    click = stack.slack.click_private(message, "resume_listed", "C0LIST004")
    click["actions"][0]["value"] = '{"id": "../../api-keys", "offset": 0}'
    stack.slack.wait_ack(stack.slack.push("interactive", click))
    assert "does not name a campaign" in reply_to(stack, click)["text"]
    assert len(stack.truedy.resumes()) == before


@pytest.mark.parametrize(
    "typed, expected, buttons",
    [
        ("wave 7 OUTREACH", "One paused campaign is named “wave 7 OUTREACH”. Resume it?", ["batch_list0007"]),
        (
            "2026 RENEWALS",
            "2 paused campaigns are named “2026 RENEWALS”. Resume the one you mean:",
            ["batch_renew001", "batch_renew002"],
        ),
        ("Q3 Renewals", "No paused campaign in this workspace's Truedy account is named “Q3 Renewals”", []),
    ],
)
def test_a_name_finds_the_paused_campaigns_it_names_and_never_resumes_on_a_guess(listing, typed, expected, buttons):
    stack = listing
    stack.truedy.add(
        KEY_BOT_TEAM,
        campaign("batch_renew001", name="Renewals East 2026"),
        campaign("batch_renew002", name="renewals (west), 2026"),
        campaign("batch_renew003", status="running", name="Renewals North 2026"),
    )
    resumes = len(stack.truedy.resumes())
    payload, ack = stack.command(typed, channel_id="C0NAMES01")
    assert ack.payload is None
    told = reply_to(stack, payload)
    assert told["response_type"] == "ephemeral" and told["text"].startswith(expected)
    assert listed_ids(told) == buttons if buttons else "blocks" not in told
    assert len(stack.truedy.resumes()) == resumes and stack.slack.posts_in("C0NAMES01") == []


def test_one_word_truedy_does_not_know_as_an_id_is_looked_up_as_a_name_before_not_found(listing):
    stack = listing
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_winter01", name="Winterdrive reactivation"))
    payload, ack = stack.command("WINTERDRIVE", channel_id="C0NAMES02")
    assert ack.payload is None
    told = wait_until(lambda: stack.slack.responses_to(payload), 10, "the offer")[0].params
    assert told["text"].startswith("One paused campaign is named “WINTERDRIVE”. Resume it?")
    assert listed_ids(told) == ["batch_winter01"]
    # Nothing public: the channel never read "is resuming `WINTERDRIVE`", nor "not found".
    assert stack.slack.posts_in("C0NAMES02") == []
    assert stack.truedy.status_of(KEY_BOT_TEAM, "batch_winter01") == "paused"

    # A word that is a campaign's id after all: the channel hears of it once Truedy answered.
    stack.truedy.add(KEY_BOT_TEAM, campaign("springdrive"))
    stack.command("springdrive", channel_id="C0NAMES04")
    wait_until(lambda: stack.slack.posts_in("C0NAMES04")[1:], 10, "the outcome and its thread reply")
    first, reply = stack.slack.posts_in("C0NAMES04")[:2]
    assert first.params["text"].startswith(":arrow_forward: <@U0ALICE01> resumed `springdrive`")
    assert reply.params["thread_ts"] == first.answer["ts"] and "is resumed" in reply.params["text"]

    stack.command("batch_nowhere01", channel_id="C0NAMES03")  # no campaign has this id, nor this name
    _, reply, _ = stack.result_in_thread("C0NAMES03", "batch_nowhere01")
    assert "no campaign with this id in this workspace's account" in reply.params["text"]
