"""Workspace names: the characters refused are exactly Unicode's hidden ones."""

import re
import unicodedata

from core.serializer_fields import HIDDEN_CHARACTERS

# Emoji sequences and some scripts need them.
JOINERS = {"\u200c", "\u200d"}


def test_the_written_out_hidden_characters_match_this_pythons_unicode():
    hidden = re.compile(f"[{HIDDEN_CHARACTERS}]")
    for code_point in range(0x110000):
        char = chr(code_point)
        category = unicodedata.category(char)
        expected = category in {"Cc", "Cs", "Zl", "Zp"} or (
            category == "Cf" and char not in JOINERS
        )
        assert bool(hidden.match(char)) is expected, (hex(code_point), category)
