from django.urls import path

from labeling.consumers import TakeUpdatesConsumer

websocket_urlpatterns = [path("ws/labeling/takes/", TakeUpdatesConsumer.as_asgi())]
