"""Websocket routes of every app."""

from labeling.routing import websocket_urlpatterns as labeling_routes

websocket_urlpatterns = [*labeling_routes]
