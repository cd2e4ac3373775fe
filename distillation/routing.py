from django.urls import path

from distillation.consumers import RunConsumer

websocket_urlpatterns = [path("ws/distillation/runs/<int:run_id>/", RunConsumer.as_asgi(), name="run")]
# So that reverse(..., urlconf="distillation.routing") gives a page its socket's path.
urlpatterns = websocket_urlpatterns
