from pathlib import Path

from django.db import migrations, models

from voicelab.engine.config import PipelineConfig


def freeze_earlier_runs(apps, schema_editor):
    """Runs launched before settings were frozen: the defaults with their styles, steps and seed
    (their workers read the environment; what it held then is not known). They walked: the
    seed's random walk was the only search then, from the three Spanish voices."""
    DistillationRun = apps.get_model("distillation", "DistillationRun")
    for run in DistillationRun.objects.filter(config={}):
        config = PipelineConfig.from_env(
            root=Path("."),
            environ={},
            styles=tuple(run.styles),
            steps=run.steps,
            seed=run.seed,
            optimizer="walk",
            base_voices=("ef_dora", "em_alex", "em_santa"),
        )
        run.config = config.record()
        run.save(update_fields=["config"])


class Migration(migrations.Migration):
    dependencies = [
        ("distillation", "0003_tts_api_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="distillationrun",
            name="config",
            field=models.JSONField(default=dict, help_text="PipelineConfig.record() at launch."),
        ),
        migrations.RunPython(freeze_earlier_runs, migrations.RunPython.noop),
    ]
