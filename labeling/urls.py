from django.urls import path

from labeling import views

app_name = "labeling"

urlpatterns = [
    path("", views.workspace, name="workspace"),
    path("suggestions/apply/", views.bulk_suggestions, name="bulk_suggestions"),
    path("export.json", views.export_json, name="export_json"),
    path("export.zip", views.export_zip, name="export_zip"),
    path("import/", views.import_labels, name="import"),
    path("sentences/<str:sentence_id>/", views.sentence_detail, name="sentence"),
    path("sentences/<str:sentence_id>/label/", views.label_sentence, name="label"),
    path("sentences/<str:sentence_id>/takes/", views.upload_take, name="upload_take"),
    path("sentences/<str:sentence_id>/take-cell/", views.take_cell, name="take_cell"),
    path("takes/<int:pk>/audio/", views.take_audio, name="take_audio"),
]
