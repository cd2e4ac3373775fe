"""ASGI entry point: HTTP through Django (bodies over their page's limit refused unread),
websockets through Channels (login required)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicelab.settings")
django_asgi_app = get_asgi_application()
# Channels reads the settings when imported: after the set-up above.

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

from voicelab.body_limit import BodySizeLimit
from voicelab.routing import websocket_urlpatterns

application = ProtocolTypeRouter(
    {
        "http": BodySizeLimit(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
