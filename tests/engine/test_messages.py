"""Messages for people: English by default, any language a page asks for, numbers its way."""

from __future__ import annotations

import json

from voicelab.engine.messages import Message

SPANISH = {
    "Pitch {value} is not clearly higher ({baseline}).": "El tono, {value}, no es claramente más alto ({baseline}).",
    "{n:.1f} semitones": "{n:.1f} semitonos",
}


def test_a_message_reads_in_english_and_in_the_language_asked() -> None:
    message = Message(
        "Pitch {value} is not clearly higher ({baseline}).",
        {"value": Message("{n:.1f} semitones", {"n": 2.25}), "baseline": Message("{n:.1f} semitones", {"n": 3.0})},
    )
    assert str(message) == "Pitch 2.2 semitones is not clearly higher (3.0 semitones)."
    spanish = message.render(lambda text: SPANISH.get(text, text), decimal_separator=",")
    assert spanish == "El tono, 2,2 semitonos, no es claramente más alto (3,0 semitonos)."


def test_a_stored_message_comes_back_whole() -> None:
    message = Message("{ratio:.1%} clipped, limit {limit}", {"ratio": 0.125, "limit": Message("{n} Hz", {"n": 8000})})
    stored = json.loads(json.dumps(message.as_dict()))
    assert Message.from_dict(stored) == message and str(message) == "12.5% clipped, limit 8000 Hz"


def test_text_and_flags_are_not_numbers() -> None:
    message = Message("{name}: {ok} {count}", {"name": "em_alex 0.5", "ok": True, "count": 3})
    assert message.render(lambda text: text, decimal_separator=",") == "em_alex 0.5: True 3"
