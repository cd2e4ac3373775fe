from django.urls import path

from distillation.consumers import RunConsumer

websocket_urlpatterns = [path("ws/distillation/runs/<int:run_id>/", RunConsumer.as_asgi())]
