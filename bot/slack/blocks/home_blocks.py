"""The bot's Home tab, as pure functions over Block Kit: the paused campaigns with Resume buttons, the
latest resumes, and for those who may set up, the connection and a button that opens setup."""

from typing import Any

from bot import truedy
from bot.slack.blocks import list_blocks, messages, setup_blocks
from bot.storage.audit import AuditEntry
from bot.storage.workspace_settings import WorkspaceSettings

HOME_PAGE = 0  # the Home tab shows the list's first page; `list` shows the rest

Block = dict[str, Any]


def home(
    settings: WorkspaceSettings | None,
    paused: truedy.CampaignPage | str,
    latest: list[AuditEntry],
    may_set_up: bool,
) -> dict:
    """`paused`: the first page of paused campaigns, or why it could not be read."""
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": "Truedy campaigns"}}]
    connected = settings is not None and settings.api_key is not None
    if not connected:
        blocks.append(
            messages.section(
                ":electric_plug: This workspace is not connected to Truedy yet."
                + (" Connect it with the button below." if may_set_up else " Ask a workspace admin to connect it.")
            )
        )
    elif isinstance(paused, str):
        blocks.append(messages.section(f":warning: I could not read the paused campaigns: {paused}"))
    else:
        listed = list_blocks.paused_list(paused, HOME_PAGE)["blocks"]
        # The list's page buttons answer through a response URL, which the Home tab has none of.
        blocks += [block for block in listed if block.get("block_id") != "list_pages"]
        if paused.has_more:
            blocks.append(messages.context(f"More are paused: `{messages.COMMAND} list` shows them all."))
    blocks.append({"type": "divider"})
    if latest:
        lines = [messages.audit_line(entry) for entry in latest]
        blocks.append(messages.section("*Latest resumes*\n" + "\n".join(lines)))
    else:
        blocks.append(messages.section("*Latest resumes*\nNone yet in this workspace."))
    if may_set_up:
        blocks.append({"type": "divider"})
        blocks.append(
            messages.section("*Connection* (you may change it)\n" + "\n".join(messages.status_lines(settings)))
        )
        label = "Open setup" if connected else "Connect Truedy"
        button = {"type": "button", "action_id": setup_blocks.CONNECT_ACTION_ID, "text": _plain(label)}
        blocks.append({"type": "actions", "block_id": "home_setup", "elements": [button]})
    return {"type": "home", "blocks": blocks[:100]}


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text}
