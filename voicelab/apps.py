from django.apps import AppConfig


class VoiceLabConfig(AppConfig):
    """The project as an app: its management commands, and the Celery app loaded with Django."""

    name = "voicelab"

    def ready(self) -> None:
        # Makes the lab's Celery app the current one, so shared tasks queued from the web
        # process reach the lab's broker (the Celery docs do this in the project's __init__,
        # which would drag Django into every import of the core).
        from voicelab import celery  # noqa: F401
