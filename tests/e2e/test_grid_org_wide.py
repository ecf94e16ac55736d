"""Enterprise Grid org-wide installs, with payloads as Slack sends them: events carry `authorizations` whose
`team_id` is null and `is_enterprise_install` true (bolt-python's own org-app fixtures show it), the workspace
in the event's own `team_id`. Workflow steps, events and clicks are served for each workspace of the
organisation with its own Truedy key, with SLACK_BOT_TOKEN (an org-wide token) and with installations."""

import json

from tests.e2e.conftest import Stack, start_installations_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM, FakeSlack
from tests.fakes.truedy import FakeTruedy, campaign
from tests.fakes.worker import WorkerProcess, worker_env

GRID = "E0GRID001"
TEAM_A, TEAM_B = "T0GRIDA01", "T0GRIDB02"
KEY_A, KEY_B = "truedy_GridAKey000000000000000001", "truedy_GridBKey000000000000000002"


def resumes_with(stack: Stack, campaign_id: str) -> list[str | None]:
    return [r.authorization for r in stack.truedy.resumes() if f"/{campaign_id}/" in r.path]


def test_an_org_wide_token_serves_steps_events_and_clicks_of_each_workspace_of_its_organisation(loop, tmp_path):
    slack = FakeSlack(loop, enterprise_id=GRID).start()
    truedy = FakeTruedy(loop).start()
    env = worker_env(slack, truedy, TRUEDY_API_KEY=KEY_A, TRUEDY_API_KEYS=json.dumps({TEAM_B: KEY_B}))
    worker = WorkerProcess(env, tmp_path)
    stack = Stack(slack, truedy, worker, env, tmp_path)
    try:
        worker.wait_started(slack)
        truedy.add(KEY_A, campaign("batch_grida0001"), campaign("batch_grida0002"))
        truedy.add(KEY_B, campaign("batch_gridb0001"))
        for team, campaign_id, key in ((BOT_TEAM, "batch_grida0001", KEY_A), (TEAM_B, "batch_gridb0001", KEY_B)):
            run, event = slack.step_event("resume_campaign", {"campaign": campaign_id}, team, run_by="U0ALICE01")
            assert event["authorizations"][0]["team_id"] is None
            assert event["authorizations"][0]["is_enterprise_install"] is True
            run.envelope = slack.push("events_api", event)
            ended = slack.step_ending(run)
            assert ended.method == "functions.completeSuccess", ended.params
            assert resumes_with(stack, campaign_id) == [f"Bearer {key}"]

        home = slack.event("app_home_opened", TEAM_B, user="U0ALICE01", channel="D0HOME001", tab="home")
        assert home["authorizations"][0]["team_id"] is None
        slack.push("events_api", home)
        wait_until(lambda: slack.published_homes("U0ALICE01"), 10, "the Home tab of a workspace of the organisation")

        ts = stack.post_alert("batch_grida0002", "C0GRIDALR")
        click = slack.click("C0GRIDALR", ts, user_id="U0BOB0001")
        slack.wait_ack(slack.push("interactive", click))
        wait_until(lambda: resumes_with(stack, "batch_grida0002"), 10, "the click's resume")
        assert resumes_with(stack, "batch_grida0002") == [f"Bearer {KEY_A}"]
        assert not worker.logged("other_workspace")
    finally:
        stop_stack(stack)


def test_an_org_wide_installation_serves_each_workspaces_steps_with_its_own_key(loop, tmp_path):
    stack = start_installations_stack(loop, tmp_path)
    try:
        stack.slack.admins.add("U0ADMIN01")
        stack.install(None, "U0ADMIN01", enterprise_id=GRID, org_wide=True)
        for team, key in ((TEAM_A, KEY_A), (TEAM_B, KEY_B)):
            stack.truedy.add(key, campaign(f"batch_{team.lower()}"))
            opened = len(stack.slack.opened_views())
            command = stack.slack.slash_command("setup", user_id="U0ADMIN01", team_id=team, enterprise_id=GRID)
            stack.slack.wait_ack(stack.slack.push("slash_commands", command))
            view = wait_until(lambda o=opened: stack.slack.opened_views()[o:], 10, "the setup modal")[0]
            values = {"api_key": {"value": {"type": "plain_text_input", "value": key}}}
            submission = stack.slack.view_submission(view["view"], values, "U0ADMIN01", team, GRID)
            assert stack.slack.wait_ack(stack.slack.push("view_submission", submission)).payload in (None, {})
        for team, key in ((TEAM_A, KEY_A), (TEAM_B, KEY_B)):
            campaign_id = f"batch_{team.lower()}"
            run, event = stack.slack.step_event("resume_campaign", {"campaign": campaign_id}, team, run_by="U0ADMIN01")
            assert event["authorizations"][0]["team_id"] is None
            run.envelope = stack.slack.push("events_api", event)
            assert stack.slack.step_ending(run).method == "functions.completeSuccess"
            assert resumes_with(stack, campaign_id) == [f"Bearer {key}"]
    finally:
        stop_stack(stack)
