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


# A name must show something: blank ones are refused after trimming.
has_visible_text = RegexValidator(r"\S", message="Enter some text.", code="blank")
