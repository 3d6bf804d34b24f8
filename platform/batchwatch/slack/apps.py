from django.apps import AppConfig


class SlackConfig(AppConfig):
    """Slack as the on-call cockpit: incident messages, buttons and the /batchwatch command."""

    name = "batchwatch.slack"
    label = "slack"
    verbose_name = "Slack"

    def ready(self) -> None:
        from batchwatch.alerts import team_channels
        from batchwatch.notify import transports
        from batchwatch.slack import delivery, periodic  # noqa: F401 - registers the sync sweep
        from batchwatch.slack.services import team_default_channel

        transports.register("slack", delivery.send_slack)
        transports.register("slack_reply", delivery.send_slack_reply)
        team_channels.register(team_default_channel)
