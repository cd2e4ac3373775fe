from django.apps import AppConfig


class LabelingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "labeling"
    verbose_name = "Corpus labeling"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from labeling.roles import ensure_roles

        # After every app's migrations, so permissions of apps migrated later reach operators.
        post_migrate.connect(ensure_roles, dispatch_uid="labeling.ensure_roles")
