from django.urls import path

from labeling.consumers import TakeUpdatesConsumer

websocket_urlpatterns = [path("ws/labeling/takes/", TakeUpdatesConsumer.as_asgi(), name="takes")]
# So that reverse(..., urlconf="labeling.routing") gives a page its socket's path.
urlpatterns = websocket_urlpatterns
