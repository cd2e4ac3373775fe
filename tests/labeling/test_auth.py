"""Roles after migrations, and the bootstrap command that prepares a fresh lab."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command

from labeling.models import Sentence

pytestmark = pytest.mark.django_db


def permission_codes(group: str, app: str) -> set[str]:
    perms = Group.objects.get(name=group).permissions.filter(content_type__app_label=app)
    return set(perms.values_list("codename", flat=True))


def test_migrations_create_both_groups(db: None) -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {"annotators", "operators"}


def test_annotators_may_label_and_record_but_not_edit_the_corpus() -> None:
    codes = permission_codes("annotators", "labeling")
    assert {"label_sentence", "record_sentence"} <= codes
    assert not {"delete_sentence", "change_category", "delete_recording"} & codes


def test_operators_have_every_labeling_permission() -> None:
    every = set(Permission.objects.filter(content_type__app_label="labeling").values_list("codename", flat=True))
    assert {"label_sentence", "record_sentence", "delete_recording"} <= every
    assert permission_codes("operators", "labeling") == every


def test_group_membership_grants_the_permissions(annotator: User, operator: User) -> None:
    assert annotator.has_perms(["labeling.label_sentence", "labeling.record_sentence"])
    assert not annotator.has_perm("labeling.delete_sentence")
    assert operator.has_perm("labeling.delete_sentence")


def bootstrap() -> str:
    out = StringIO()
    call_command("bootstrap", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_bootstrap_creates_one_admin_operator_and_prints_the_password_once(db: None) -> None:
    first = bootstrap()

    password = re.search(r"with the password\s+(\S+)", first)
    assert password, first
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password[1])
    assert admin.groups.filter(name="operators").exists()
    assert Sentence.objects.count() == 77

    second = bootstrap()

    assert "password" not in second and password[1] not in second
    assert User.objects.filter(username="admin").count() == 1 and User.objects.count() == 1
    assert "0 created" in second
