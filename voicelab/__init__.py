"""Voice Lab: the Django project (settings, URLs, ASGI, processes) and, in ``voicelab.engine``,
the framework-free core both apps use. Importing the package imports nothing else, so the
core stays importable without Django; the Celery app is loaded by ``apps.VoiceLabConfig``."""
