"""Request fields that accept exactly what the OpenAPI schema says they accept."""

from django.core.validators import RegexValidator
from rest_framework import serializers


class TextField(serializers.CharField):
    """A string, and only a string: DRF's CharField quietly turns a JSON number into
    text, which the schema (type: string) calls invalid."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# Characters a name may not hold, as a regex class body: control characters (a line
# break in an email subject is a header injection), line and paragraph separators,
# surrogates, and the invisible format characters that only hide what a name says
# (category Cf, less the two joiners emoji sequences need). Written out rather than
# computed, which takes a scan of all of Unicode; a test compares it with unicodedata.
HIDDEN_CHARACTERS = r"\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b\u200e-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"

# A name shows something and hides nothing; the schema carries the same pattern.
visible_name = RegexValidator(
    rf"^[^{HIDDEN_CHARACTERS}]*[^{HIDDEN_CHARACTERS}\s][^{HIDDEN_CHARACTERS}]*$",
    message="Enter a name with visible text and no line breaks, tabs or control characters.",
    code="invalid",
)
