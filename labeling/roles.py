"""The two roles of the lab, as Django groups with permissions.

Annotators label, upload and record; operators may do everything, including
distillation. Groups are (re)synchronised after every ``migrate`` so permissions
added by later migrations reach the operators without a manual step.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

ANNOTATORS = "annotators"
OPERATORS = "operators"

ANNOTATOR_PERMISSIONS = (
    "labeling.label_sentence",
    "labeling.record_sentence",
    "labeling.view_sentence",
    "labeling.view_recording",
    "labeling.view_stylelabel",
    "labeling.view_category",
)
OPERATOR_APPS = ("labeling", "distillation")


def _permissions(codes: tuple[str, ...]) -> list[Permission]:
    pairs = [code.split(".", 1) for code in codes]
    return [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in pairs
        if Permission.objects.filter(content_type__app_label=app, codename=codename).exists()
    ]


def ensure_roles(**_: object) -> None:
    """Create both groups and give them their permissions (idempotent)."""
    annotators, _ = Group.objects.get_or_create(name=ANNOTATORS)
    annotators.permissions.set(_permissions(ANNOTATOR_PERMISSIONS))
    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    operators.permissions.set(Permission.objects.filter(content_type__app_label__in=OPERATOR_APPS))
