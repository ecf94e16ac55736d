"""The Slack surface: the Bolt app, listeners, messages and Block Kit, replies."""
