from slack_bolt import App

from bot.slack.listeners import actions, commands, events, functions, views


def register(app: App) -> None:
    commands.register(app)
    actions.register(app)
    views.register(app)
    events.register(app)
    functions.register(app)
