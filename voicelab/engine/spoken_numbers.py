"""Numbers in Spanish call-center text, written out the way an agent reads them aloud.

espeak-ng reads a plain integer well but not what a call center writes: ``123,50 €`` comes out
as "ciento veintitrés, cincuenta euro", ``10:30`` as "diez: treinta", ``3.ª`` as "tres a",
``31/01`` as "treinta y uno barra cero uno". :func:`spell_numbers` turns each such form into
words (``num2words`` for the numbers themselves) before G2P sees the text:

======================  ==============================================================
``123,50 €``            ciento veintitrés euros con cincuenta céntimos (``EUR``, ``euros`` too)
``12,5 %``              doce coma cinco por ciento
``10:30`` ``23:59``     diez y media; veintitrés horas y cincuenta y nueve minutos
``31/01`` ``1/2/2027``  treinta y uno de enero; uno de febrero de dos mil veintisiete
``3.ª`` ``1.er``        tercera; primer
``900 12 34 56``        novecientos, doce, treinta y cuatro, cincuenta y seis (phones and
                        references are read in the groups they are written in; nine digits
                        together as 3-2-2-2, a group with a leading zero digit by digit)
``1.249`` ``2026``      mil doscientos cuarenta y nueve; dos mil veintiséis
======================  ==============================================================

What is not one of these forms is left as it is. A known limit: a bare number is read in the
masculine ("uno", "veintiún euros"), since the gender of the noun after it is not known.
"""

from __future__ import annotations

import re

from num2words import num2words

MONTHS = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]
DIGITS = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"]
LONGEST_NUMBER = 9  # digits; a longer run is a code, read digit by digit

_INTEGER = r"\d{1,3}(?:\.\d{3})+|\d+"  # 1.249 or 1249
_AMOUNT = re.compile(
    rf"(?:€\s?(?P<pre>{_INTEGER})(?:,(?P<pre_cents>\d{{2}}))?)|"
    rf"(?P<int>{_INTEGER})(?:,(?P<cents>\d{{1,2}}))?\s?(?:€|EUR\b|euros?\b)"
)
_PERCENT = re.compile(rf"(?P<int>{_INTEGER})(?:,(?P<fraction>\d+))?\s?%")
_TIME = re.compile(r"\b(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)\b(?:\s?h\b)?")
_DATE = re.compile(r"\b(?P<day>[0-3]?\d)/(?P<month>[01]?\d)(?:/(?P<year>\d{4}|\d{2}))?\b")
_ORDINAL = re.compile(r"\b(?P<number>\d{1,3})\.?(?P<suffix>º|ª|°|er)(?!\w)")
_GROUPS = re.compile(r"\b\d{2,3}(?:[ -]\d{2,3})+\b")  # 900 12 34 56, 48-72-15
_DECIMAL = re.compile(r"\b(?P<int>\d+),(?P<fraction>\d+)\b")
_NUMBER = re.compile(rf"\b(?:{_INTEGER})\b")


def spell_numbers(text: str) -> str:
    """``text`` with every number form above written out in Spanish words."""
    for pattern, spell in (
        (_AMOUNT, _amount),
        (_PERCENT, _percent),
        (_TIME, _time),
        (_DATE, _date),
        (_ORDINAL, _ordinal),
        (_GROUPS, _groups),
        (_DECIMAL, _decimal),
        (_NUMBER, _number),
    ):
        text = pattern.sub(spell, text)
    return text


def cardinal(value: int) -> str:
    return num2words(value, lang="es")


def _integer(written: str) -> int:
    return int(written.replace(".", ""))


def _amount(match: re.Match[str]) -> str:
    euros = _integer(match["int"] or match["pre"])
    cents = int((match["cents"] or match["pre_cents"] or "0").ljust(2, "0"))
    words = _counted(euros, "euro", "euros")
    return f"{words} con {_counted(cents, 'céntimo', 'céntimos')}" if cents else words


def _counted(value: int, one: str, many: str) -> str:
    """``value`` before a masculine noun: "un euro", "veintiún euros", "un millón de euros"."""
    words = cardinal(value)
    if words.endswith("veintiuno"):
        words = words[:-3] + "ún"
    elif words.endswith("uno"):
        words = words[:-1]
    if value == 1:
        return f"{words} {one}"
    return f"{words} de {many}" if words.endswith(("millón", "millones")) else f"{words} {many}"


def _fraction(integer: str, fraction: str | None) -> str:
    """``12,5`` as "doce coma cinco"; a fraction with leading zeros keeps them: "uno coma cero cinco"."""
    words = cardinal(_integer(integer))
    if fraction:
        zeros = len(fraction) - len(fraction.lstrip("0"))
        rest = fraction.lstrip("0")
        words += " coma " + " ".join([DIGITS[0]] * zeros + ([cardinal(int(rest))] if rest else []))
    return words


def _percent(match: re.Match[str]) -> str:
    return f"{_fraction(match['int'], match['fraction'])} por ciento"


def _feminine(value: int) -> str:
    """For hours: "la una", "las veintiuna"."""
    words = cardinal(value)
    return words[:-3] + "una" if words.endswith("uno") else words


def _time(match: re.Match[str]) -> str:
    hour, minute = int(match["hour"]), int(match["minute"])
    if hour > 12:  # a 24-hour time is read as the clock shows it
        words = f"{_feminine(hour)} horas"
        return f"{words} y {cardinal(minute)} minutos" if minute else words
    words = _feminine(hour)
    spoken = {0: "", 15: " y cuarto", 30: " y media"}
    return words + spoken.get(minute, f" y {cardinal(minute)}")


def _date(match: re.Match[str]) -> str:
    day, month = int(match["day"]), int(match["month"])
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return match[0]
    words = f"{cardinal(day)} de {MONTHS[month - 1]}"
    if year := match["year"]:
        words += f" de {cardinal(int(year) + (2000 if len(year) == 2 else 0))}"
    return words


def _ordinal(match: re.Match[str]) -> str:
    words = num2words(int(match["number"]), lang="es", to="ordinal")
    if match["suffix"] == "ª":
        return " ".join(word[:-1] + "a" for word in words.split())
    if match["suffix"] == "er":  # 1.er, 3.er: before a masculine noun
        return words.removesuffix("o")
    return words


def _group(digits: str) -> str:
    if digits.startswith("0") or len(digits) > LONGEST_NUMBER:
        return " ".join(DIGITS[int(d)] for d in digits)
    return cardinal(int(digits))


def _groups(match: re.Match[str]) -> str:
    return ", ".join(_group(group) for group in re.split(r"[ -]", match[0]))


def _decimal(match: re.Match[str]) -> str:
    return _fraction(match["int"], match["fraction"])


def _number(match: re.Match[str]) -> str:
    written = match[0]
    if "." not in written and len(written) == LONGEST_NUMBER and written[0] in "6789":
        # a Spanish phone number written together: read 3-2-2-2, as it is dictated
        return ", ".join(_group(written[i:j]) for i, j in ((0, 3), (3, 5), (5, 7), (7, 9)))
    if "." not in written and ((written.startswith("0") and len(written) > 1) or len(written) > LONGEST_NUMBER):
        return _group(written)
    return cardinal(_integer(written))
