from django.urls import path

from distillation import views

app_name = "distillation"

urlpatterns = [
    path("", views.run_list, name="runs"),
    path("launch/", views.launch, name="launch"),
    path("launch/check/", views.launch_check, name="launch_check"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/cancel/", views.cancel, name="cancel"),
    path("runs/<int:pk>/resume/", views.resume, name="resume"),
    path("runs/<int:pk>/report/", views.report, name="report"),
    path("runs/<int:pk>/report/<str:style>/blind/", views.blind, name="blind"),
    path("runs/<int:pk>/report/<str:style>/blind/<str:slot>.wav", views.blind_clip, name="blind_clip"),
    path("runs/<int:pk>/deploy/", views.deploy, name="deploy"),
    path("runs/<int:pk>/files/<path:name>", views.artifact, name="artifact"),
    path("tts/", views.tts_panel, name="tts"),
    path("tts/style/", views.switch_style, name="switch_style"),
    path("tts/try/", views.tts_try, name="tts_try"),
    path("tts/keys/", views.tts_keys, name="tts_keys"),
    path("tts/keys/<int:pk>/revoke/", views.revoke_tts_key, name="revoke_tts_key"),
]
