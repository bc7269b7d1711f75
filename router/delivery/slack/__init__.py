"""The router's Slack app: the team stream as threads with buttons (SLACK_BOT_TOKEN),
through slack_sdk; the presses come back through router.api.slack."""
