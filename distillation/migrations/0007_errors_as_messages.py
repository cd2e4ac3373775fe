"""A run's and a walk's error become the engine's Message (JSON), shown in the reader's language.

The errors stored so far are English text: each becomes a Message that reads as it did.
"""

from django.db import migrations, models



def _as_message(text: str) -> dict | None:
    return {"text": text.replace("{", "{{").replace("}", "}}"), "values": {}} if text else None


def texts_to_messages(apps, schema_editor) -> None:
    for name in ("DistillationRun", "StyleRun"):
        model = apps.get_model("distillation", name)
        for pk, text in model.objects.exclude(error="").values_list("pk", "error"):
            model.objects.filter(pk=pk).update(problem=_as_message(text))


def messages_to_texts(apps, schema_editor) -> None:
    from voicelab.engine.messages import Message

    for name in ("DistillationRun", "StyleRun"):
        model = apps.get_model("distillation", name)
        for pk, problem in model.objects.filter(problem__isnull=False).values_list("pk", "problem"):
            model.objects.filter(pk=pk).update(error=str(Message.from_dict(problem)))


class Migration(migrations.Migration):
    dependencies = [("distillation", "0006_style_labels")]

    operations = [
        *(
            migrations.AddField(
                model_name=model,
                name="problem",
                field=models.JSONField(null=True, blank=True, help_text="Why it failed: Message.as_dict(), shown translated."),
            )
            for model in ("distillationrun", "stylerun")
        ),
        migrations.RunPython(texts_to_messages, messages_to_texts),
        *(migrations.RemoveField(model_name=model, name="error") for model in ("distillationrun", "stylerun")),
        *(
            migrations.RenameField(model_name=model, old_name="problem", new_name="error")
            for model in ("distillationrun", "stylerun")
        ),
    ]
