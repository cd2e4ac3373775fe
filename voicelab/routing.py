"""Websocket routes of every app."""

from distillation.routing import websocket_urlpatterns as distillation_routes
from labeling.routing import websocket_urlpatterns as labeling_routes

websocket_urlpatterns = [*labeling_routes, *distillation_routes]
