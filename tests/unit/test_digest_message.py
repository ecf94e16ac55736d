"""A digest's message shows every change to its rows, whatever order the changes and renders come in."""

from bot.slack.digest_message import render_digest
from bot.storage.digests import AlertDigests
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy import Campaign

ACME = WorkspaceId("", "T0ACME001")


class ChangingWhileItPosts:
    """A Slack client during whose first update another worker changes a row (and renders it earlier)."""

    def __init__(self, digests: AlertDigests, digest_id: int):
        self.digests, self.digest_id, self.updates = digests, digest_id, []

    def chat_update(self, **message):
        if not self.updates:
            self.digests.set_row(self.digest_id, "batch_r00001", "resumed", ":arrow_forward: *Resumed* by <@U0BOB0001>")
        self.updates.append(message)


def test_a_render_that_raced_a_change_renders_again_with_it(engine):
    digests = AlertDigests(engine)
    campaigns = [Campaign(f"batch_r{n:05d}", f"Wave {n}", "paused", *[None] * 7) for n in range(8)]
    digest_id = digests.create(ACME, "C1", campaigns)
    digests.posted(digest_id, "C1", "1.1")
    digests.set_row(digest_id, "batch_r00000", "over", "Not paused any more")
    client = ChangingWhileItPosts(digests, digest_id)

    render_digest(client, digests, digest_id, per_minute=90)

    assert len(client.updates) == 2
    assert "Resumed* by <@U0BOB0001>" not in str(client.updates[0]["blocks"])
    assert "Resumed* by <@U0BOB0001>" in str(client.updates[-1]["blocks"])
    assert "6 still paused · 1 resumed · 1 not paused any more" in client.updates[-1]["text"]
