"""Numbers as a call center writes them, read as the corpus spells them out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voicelab.engine.g2p import phonemize
from voicelab.engine.spoken_numbers import spell_numbers

CORPUS = Path(__file__).parents[2] / "labeling/corpus/builtin.json"

# The corpus' number sentences ("written as they are read aloud"), as an agent's script writes them.
WRITTEN = {
    "shnu-01": "El importe total es de 123,50 €.",
    "shnu-02": "Su próxima factura se emitirá el 15 de marzo.",
    "shnu-03": "El técnico pasará mañana entre las 10:30 y las 12:15.",
    "shnu-04": "Puede llamarnos gratis al 900 12 34 56.",
    "shnu-05": "El número de su incidencia es el 48 72 15.",
    "shnu-06": "Este mes tiene un descuento del 12,5 % en su tarifa.",
    "shnu-07": "Su solicitud es la 3.ª en la cola; le atenderemos en unos 5 minutos.",
    "shnu-08": "La deuda pendiente asciende a 1.249,99 €.",
    "shnu-09": "El primer pago vence el 31/01 y el segundo, el 28/02.",
    "shnu-10": "La oferta termina el domingo a las 23:59.",
}


def spelled() -> dict[str, str]:
    sentences = json.loads(CORPUS.read_text(encoding="utf-8"))["sentences"]
    return {s["id"]: s["text"] for s in sentences if s["kind"] == "number"}


def test_every_number_sentence_of_the_corpus_is_covered() -> None:
    assert set(spelled()) == set(WRITTEN)


@pytest.mark.parametrize("sentence_id", sorted(WRITTEN))
def test_written_numbers_are_spoken_as_the_corpus_spells_them(sentence_id: str) -> None:
    spoken = spelled()[sentence_id]
    assert spell_numbers(WRITTEN[sentence_id]) == spoken
    assert phonemize(WRITTEN[sentence_id]) == phonemize(spoken)


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("21 € y 1 €", "veintiún euros y un euro"),
        ("1.000.000 €", "un millón de euros"),
        ("0,01 EUR", "cero euros con un céntimo"),
        ("€ 5", "cinco euros"),
        ("31,2 euros", "treinta y un euros con veinte céntimos"),
        ("a la 1:00", "a la una"),
        ("a las 21:05", "a las veintiuna horas y cinco minutos"),
        ("el 1/2/2027", "el uno de febrero de dos mil veintisiete"),
        ("el 1.er pago, el 2.º piso", "el primer pago, el segundo piso"),
        ("al 612345678", "al seiscientos doce, treinta y cuatro, cincuenta y seis, setenta y ocho"),
        ("código 007", "código cero cero siete"),
        ("versión 1,05", "versión uno coma cero cinco"),
        ("en 2026", "en dos mil veintiséis"),
        ("el 45/13 no es fecha", "el cuarenta y cinco/trece no es fecha"),
        ("Sin números.", "Sin números."),
    ],
)
def test_call_center_forms(written: str, spoken: str) -> None:
    assert spell_numbers(written) == spoken
