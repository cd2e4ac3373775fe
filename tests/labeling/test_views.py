"""The workspace through the test client: login, roles, labeling, filters and bulk suggestions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth.models import User
from django.test import Client

from labeling.models import Sentence, StyleLabel
from voicelab.engine.config import STYLE_NAMES

pytestmark = pytest.mark.django_db

LABEL_URL = "/labeling/sentences/shcc-01/label/"


def rows(html: bytes | str) -> list[str]:
    """Sentence ids of the table rows in a page or partial."""
    text = html.decode() if isinstance(html, bytes) else html
    return re.findall(r'<tr class="sentence-row" id="row-([\w-]+)"', text)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/labeling/"),
        ("get", "/labeling/sentences/shcc-01/"),
        ("get", "/labeling/export.json"),
        ("get", "/labeling/export.zip"),
        ("get", "/labeling/takes/1/audio/"),
        ("get", "/labeling/sentences/shcc-01/take-cell/"),
        ("post", LABEL_URL),
        ("post", "/labeling/sentences/shcc-01/takes/"),
        ("post", "/labeling/suggestions/apply/"),
        ("post", "/labeling/import/"),
    ],
)
def test_every_page_needs_a_login(corpus: None, client: Client, method: str, url: str) -> None:
    response = getattr(client, method)(url, {"style": "amable"} if method == "post" else None)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={quote(url)}"
    assert not StyleLabel.objects.exists()


def test_label_endpoint_returns_the_saved_cell(
    corpus: None, annotator_client: Client, annotator: User, htmx: dict[str, str]
) -> None:
    response = annotator_client.post(LABEL_URL, {"style": "empatico", "method": "dropdown"}, headers=htmx)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="label-shcc-01"' in html and "Saved" in html
    assert re.search(r'<option value="empatico"\s+selected>', html)
    assert not re.search(r'<option value="amable"\s+selected>', html)
    label = Sentence.objects.get(sentence_id="shcc-01").current_label
    assert (label.style, label.labeled_by, label.method) == ("empatico", annotator, "dropdown")
    # Both progress panels come along, swapped out of band, with the new count.
    style_panel = html[html.index('id="style-progress"') :]
    assert 'hx-swap-oob="true"' in style_panel
    assert re.search(r"Empático</span></td>\s*<td>1</td>", style_panel)
    assert "1 / 0 / 0 of 15" in html[html.index('id="category-progress"') :]


def test_keyboard_method_is_stored(corpus: None, annotator_client: Client, htmx: dict[str, str]) -> None:
    annotator_client.post(LABEL_URL, {"style": "neutral", "method": "keyboard"}, headers=htmx)
    assert Sentence.objects.get(sentence_id="shcc-01").current_label.method == StyleLabel.Method.KEYBOARD


def test_unknown_style_is_a_400_message_and_keeps_the_label(
    labeled_greeting: Sentence, annotator_client: Client, htmx: dict[str, str]
) -> None:
    response = annotator_client.post(LABEL_URL, {"style": "enfadado"}, headers=htmx)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert "Unknown style" in response.content.decode() and "enfadado" in response.content.decode()
    assert Sentence.objects.get(pk=labeled_greeting.pk).style == "amable"
    assert StyleLabel.objects.count() == 1


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (LABEL_URL, {"style": "amable"}),
        ("/labeling/suggestions/apply/", {}),
        ("/labeling/import/", {}),
    ],
)
def test_a_user_in_no_group_may_not_change_anything(
    corpus: None, nobody_client: Client, url: str, data: dict[str, str]
) -> None:
    assert nobody_client.post(url, data).status_code == 403
    assert not StyleLabel.objects.exists()


def test_a_user_in_no_group_may_not_upload(
    corpus: None, nobody_client: Client, media_root: Path, espeak_wav: Callable[..., Path]
) -> None:
    with espeak_wav().open("rb") as audio:
        response = nobody_client.post("/labeling/sentences/shcc-01/takes/", {"audio": audio, "style": "amable"})
    assert response.status_code == 403
    assert not any(media_root.rglob("*.wav"))


@pytest.fixture
def some_labels(corpus: None, label: Callable[[str, str], Sentence]) -> None:
    label("shcc-01", "amable")
    label("shcc-02", "amable")
    label("shpg-01", "neutral")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"category": "lista_pangramas"}, [f"shpg-{n:02d}" for n in range(1, 8)]),
        ({"style": "amable"}, ["shcc-01", "shcc-02"]),
        ({"status": "labeled"}, ["shpg-01", "shcc-01", "shcc-02"]),
        ({"status": "labeled", "category": "lista_call_center"}, ["shcc-01", "shcc-02"]),
        ({"status": "recorded"}, []),
        ({"status": "validated"}, []),
    ],
)
def test_filters_narrow_the_table(
    some_labels: None, annotator_client: Client, query: dict[str, str], expected: list[str]
) -> None:
    response = annotator_client.get("/labeling/", query)
    assert response.status_code == 200
    assert rows(response.content) == expected
    assert [s.sentence_id for s in response.context["sentences"]] == expected


def test_unlabeled_filter_leaves_out_the_labeled(some_labels: None, annotator_client: Client) -> None:
    shown = rows(annotator_client.get("/labeling/", {"status": "unlabeled"}).content)
    assert len(shown) == 74 and not {"shcc-01", "shcc-02", "shpg-01"} & set(shown)


@pytest.mark.parametrize(
    ("query", "bad"), [({"style": "enfadado"}, "enfadado"), ({"status": "done"}, "done"), ({"category": "x"}, "x")]
)
def test_unknown_filter_value_is_a_400_message(
    corpus: None, annotator_client: Client, htmx: dict[str, str], query: dict[str, str], bad: str
) -> None:
    response = annotator_client.get("/labeling/", query, headers=htmx)
    assert response.status_code == 400
    assert "valid choice" in response.content.decode() and bad in response.content.decode()


def test_htmx_request_for_the_table_gets_only_the_partial(
    some_labels: None, annotator_client: Client, htmx: dict[str, str]
) -> None:
    response = annotator_client.get("/labeling/", {"style": "amable"}, headers={**htmx, "HX-Target": "sentences"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="sentences"')
    assert "<html" not in html and "style-progress" not in html
    assert rows(html) == ["shcc-01", "shcc-02"]


def test_bulk_suggestions_respect_the_filters(corpus: None, annotator_client: Client, htmx: dict[str, str]) -> None:
    response = annotator_client.post(
        "/labeling/suggestions/apply/", {"category": "lista_numeros", "status": "unlabeled"}, headers=htmx
    )
    assert response.status_code == 200 and response["HX-Refresh"] == "true"
    labeled = Sentence.objects.filter(current_label__isnull=False)
    assert set(labeled.values_list("category__list_id", flat=True)) == {"lista_numeros"}
    assert labeled.count() == 10
    assert set(StyleLabel.objects.values_list("method", flat=True)) == {"bulk"}


def test_bulk_suggestions_without_htmx_redirect_with_a_message(corpus: None, annotator_client: Client) -> None:
    response = annotator_client.post("/labeling/suggestions/apply/", {"category": "lista_pangramas"}, follow=True)
    assert response.redirect_chain == [("/labeling/", 302)]
    assert "Applied the suggested style to 7 sentences." in response.content.decode()


def test_bulk_suggestions_with_a_bad_filter_change_nothing(
    corpus: None, annotator_client: Client, htmx: dict[str, str]
) -> None:
    response = annotator_client.post("/labeling/suggestions/apply/", {"status": "done"}, headers=htmx)
    assert response.status_code == 400
    assert not StyleLabel.objects.exists()


def test_sentence_detail_shows_the_label_history(
    greeting_sentence: Sentence, label: Callable[[str, str], Sentence], annotator_client: Client
) -> None:
    label("shcc-01", "neutral")
    label("shcc-01", "amable")
    html = annotator_client.get("/labeling/sentences/shcc-01/").content.decode()
    assert greeting_sentence.text in html
    assert "(was Neutral)" in html and html.count("by ana") >= 2  # the style as people read it


@pytest.mark.parametrize("url", ["/labeling/", "/labeling/sentences/shcc-01/"])
def test_pages_with_sentence_rows_hand_their_script_the_styles_and_socket(
    corpus: None, annotator_client: Client, url: str
) -> None:
    """voicelab.js writes neither the styles keys 1-4 label with nor the takes' socket."""
    html = annotator_client.get(url).content.decode()
    styles = re.search(r'<script id="voicelab-styles" type="application/json">(.*?)</script>', html)[1]
    assert json.loads(styles) == list(STYLE_NAMES)
    assert 'ws-connect="/ws/labeling/takes/"' in html


def test_unknown_sentence_is_a_404(corpus: None, annotator_client: Client) -> None:
    assert annotator_client.get("/labeling/sentences/nope-01/").status_code == 404
    assert annotator_client.post("/labeling/sentences/nope-01/label/", {"style": "amable"}).status_code == 404


@pytest.mark.parametrize(
    ("method", "url", "message"),
    [
        ("get", "/labeling/sentences/shcc-99/", "Sentence shcc-99 does not exist."),
        ("post", "/labeling/sentences/shcc-99/label/", "Sentence shcc-99 does not exist."),
        ("post", "/labeling/sentences/shcc-99/takes/", "Sentence shcc-99 does not exist."),
        ("get", "/labeling/sentences/shcc-99/take-cell/", "Sentence shcc-99 does not exist."),
        ("get", "/labeling/takes/999/audio/", "Take 999 does not exist."),
    ],
)
def test_something_missing_is_a_404_the_page_can_show(
    corpus: None, annotator_client: Client, htmx: dict[str, str], method: str, url: str, message: str
) -> None:
    send = getattr(annotator_client, method)
    data = {"style": "amable"} if method == "post" else None

    plain = send(url, data, headers=htmx)
    assert (plain.status_code, plain["Content-Type"]) == (404, "text/plain; charset=utf-8")
    assert plain.content.decode() == message

    as_json = send(url, data, headers={"Accept": "application/json"})
    assert (as_json.status_code, as_json.json()) == (404, {"error": message})

    page = send(url, data)
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    assert message in page.content.decode()
