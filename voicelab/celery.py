"""The Celery app: web and workers share Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicelab.settings")

app = Celery("voicelab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
