"""Roles after migrations, and the bootstrap command that prepares a fresh lab."""

from __future__ import annotations

import re
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client

from labeling.models import Recording, Sentence
from labeling.permissions import NO_ROLE_MESSAGE
from labeling.roles import ANNOTATORS, OPERATORS

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


@pytest.fixture
def take(labeled_greeting: Sentence, validated: Callable[..., Recording], espeak_wav: Callable[..., Path]) -> Recording:
    """The greeting's active take, so that the exports carry its audio too."""
    return validated(labeled_greeting, espeak_wav())


def client_of(role: str) -> Client:
    """A client logged in as a new user in ``role``'s group ("no group": in none; "anonymous": not logged in)."""
    client = Client()
    if role != "anonymous":
        user = User.objects.create_user(f"user-{role.replace(' ', '-')}")
        if role != "no group":
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
    return client


def body(response: HttpResponse) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# Every labeling GET that shows the corpus, its labels or its takes, and what each one's body holds.
READS = [
    ("/labeling/", b'id="row-shcc-01"'),
    ("/labeling/sentences/shcc-01/", b"Buenos d"),
    ("/labeling/sentences/shcc-01/take-cell/", b'id="take-shcc-01"'),
    ("/labeling/takes/{take}/audio/", b"RIFF"),
    ("/labeling/export.json", b'"sentence_id": "shcc-01"'),
    ("/labeling/export.zip", b"wavs/shcc-01_amable.wav"),
]


@pytest.mark.parametrize(("url", "content"), READS, ids=[url for url, _ in READS])
@pytest.mark.parametrize(
    ("role", "status"), [("anonymous", 302), ("no group", 403), (ANNOTATORS, 200), (OPERATORS, 200)]
)
def test_only_the_labs_roles_may_read(take: Recording, url: str, content: bytes, role: str, status: int) -> None:
    url = url.format(take=take.pk)
    response = client_of(role).get(url)

    assert response.status_code == status
    if status == 302:
        assert response["Location"] == f"/accounts/login/?next={quote(url)}"
    elif status == 403:
        assert str(NO_ROLE_MESSAGE) in response.content.decode() and content not in response.content
    else:
        assert content in body(response)


def test_a_user_without_a_role_is_told_how_to_get_one(corpus: None, nobody_client: Client) -> None:
    html = nobody_client.get("/labeling/").content.decode()
    assert "Your account has no role yet; ask an operator to add you to annotators or operators." in html
    assert "Back to the workspace" not in html  # the workspace would refuse them again
    # A refusal that is not about reading keeps the general explanation.
    refused = nobody_client.post("/labeling/sentences/shcc-01/label/", {"style": "amable"}).content.decode()
    assert "Your account's role does not allow this." in refused
