"""Every message, modal and tab the bot shows, as pure functions returning Block Kit payloads: no Slack client,
no database. What posts and updates them lives beside this folder (surfaces, replies, the listeners)."""
