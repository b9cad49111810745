"""The input field types every door parses with: one text type (a form field and a serializer
field) that refuses control characters, and strict JSON numbers for the API.

Text from a browser or a client may carry a NUL byte (PostgreSQL refuses it, which used to be a
500), other C0/C1 control characters (invisible in every page that shows them, and a way to forge
lines in logs and CSV exports), or, from JSON, a lone surrogate (not encodable as UTF-8: another
500). Each is refused (NUL in Django's own words, the others by code point); the form or
serializer keys the message by the field's name. Newlines and tabs stay allowed: notes and
descriptions have paragraphs.

A JSON API should not guess: `{"prompt": 123}` or `{"guidance": true}` is a client bug to report,
not a value to coerce, so the serializer fields here accept only the JSON type they name. (A form
body, which the API also takes, has only strings: those are parsed as DRF always did.)
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from rest_framework import serializers
from rest_framework.utils import html
from rest_framework.validators import ProhibitSurrogateCharactersValidator

TEXT_MAX_CHARS = 2000  # a default bound; fields that hold more (or less) say so
NUL_MESSAGE = ProhibitNullCharactersValidator.message


# Unicode's control characters (Cc: U+0000-U+001F, U+007F-U+009F) but newline, return and tab;
# and surrogates (Cs), which only a JSON escape can smuggle into a str.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def forbidden_characters(text: str) -> list[str]:
    """The control characters and lone surrogates in `text`, as sorted `U+XXXX` names."""
    return sorted({f"U+{ord(char):04X}" for char in _FORBIDDEN.findall(text)})


def reject_control_characters(value: Any) -> None:
    """A validator for forms and serializers alike (DRF turns Django's ValidationError into its
    own), so both doors refuse the same characters with the same words: Django's own for NUL,
    and the others by name."""
    bad = forbidden_characters(value) if isinstance(value, str) else []
    errors = []
    if "U+0000" in bad:
        errors.append(ValidationError(NUL_MESSAGE, code="null_characters_not_allowed"))
    if others := [name for name in bad if name != "U+0000"]:
        errors.append(
            ValidationError(
                "Control characters are not allowed: %(characters)s.",
                code="control_characters",
                params={"characters": ", ".join(others)},
            )
        )
    if errors:
        raise ValidationError(errors)


def _without_builtin_checks(validators: list[Any]) -> list[Any]:
    """Django's and DRF's own NUL (and DRF's surrogate) checks: ours covers them (one message
    per problem, not two)."""
    builtin = (ProhibitNullCharactersValidator, ProhibitSurrogateCharactersValidator)
    return [v for v in validators if not isinstance(v, builtin)]


class TextField(forms.CharField):
    """A form's text field: stripped, bounded (TEXT_MAX_CHARS unless given), no control
    characters. Django's own CharField refuses only NUL."""

    def __init__(self, *, max_length: int | None = TEXT_MAX_CHARS, **kwargs: Any) -> None:
        super().__init__(max_length=max_length, **kwargs)
        self.validators = [*_without_builtin_checks(self.validators), reject_control_characters]


class TextSerializerField(serializers.CharField):
    """The API's text field: a JSON string and nothing else, bounded, no control characters."""

    default_error_messages = {"not_a_string": "Must be a string, not {type}."}

    def __init__(self, *, max_length: int | None = TEXT_MAX_CHARS, **kwargs: Any) -> None:
        super().__init__(max_length=max_length, **kwargs)
        self.validators = [*_without_builtin_checks(self.validators), reject_control_characters]

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string", type=json_type_name(data))
        return super().to_internal_value(data)


def _typed_input(field: serializers.Field) -> bool:
    """Did this field's value come from JSON (typed) rather than a form body (all strings)?"""
    return not html.is_html_input(getattr(field.root, "initial_data", None))


class StrictIntegerSerializerField(serializers.IntegerField):
    """A JSON integer: not a string of digits, not a boolean, not 1.5."""

    default_error_messages = {"not_an_integer": "Must be a whole number, not {type}."}

    def to_internal_value(self, data: Any) -> int:
        if _typed_input(self) and (isinstance(data, bool) or not isinstance(data, int)):
            self.fail("not_an_integer", type=json_type_name(data))
        return super().to_internal_value(data)


class StrictFloatSerializerField(serializers.FloatField):
    """A finite JSON number (an integer will do): not a string, not a boolean."""

    default_error_messages = {"not_a_number": "Must be a number, not {type}."}

    def to_internal_value(self, data: Any) -> float:
        if _typed_input(self) and (isinstance(data, bool) or not isinstance(data, int | float)):
            self.fail("not_a_number", type=json_type_name(data))
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_a_number", type="a non-finite number")
        return value


class ChoiceSerializerField(serializers.ChoiceField):
    """A string naming one of the choices. A refusal lists the choices instead of quoting the
    input, as DRF's own does: a quoted lone surrogate made the error answer itself unencodable
    (a 500), and a quoted control character would reach whatever shows the message."""

    default_error_messages = {
        "invalid_choice": "Choose one of: {choices}.",
        "not_a_string": "Must be a string, not {type}.",
    }

    def to_internal_value(self, data: Any) -> Any:
        if data == "" and self.allow_blank:
            return ""
        if _typed_input(self) and not isinstance(data, str):
            self.fail("not_a_string", type=json_type_name(data))
        value = self.choice_strings_to_values.get(str(data))
        if value is None:
            self.fail("invalid_choice", choices=", ".join(self.choice_strings_to_values))
        return value


class StrictBooleanSerializerField(serializers.BooleanField):
    """A JSON true or false: not "yes", not 1 (a form body's strings are parsed as DRF does)."""

    default_error_messages = {"not_a_boolean": "Must be true or false, not {type}."}

    def to_internal_value(self, data: Any) -> bool:
        if _typed_input(self) and not isinstance(data, bool):
            self.fail("not_a_boolean", type=json_type_name(data))
        return super().to_internal_value(data)


def json_type_name(value: Any) -> str:
    """How a client would name the JSON type it sent, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class UUIDListField(forms.Field):
    """Several ids under one name (`?output=<uuid>&output=<uuid>`), each a valid UUID."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "invalid": "Not a valid id: %(value)s.",
        "too_many": "At most %(limit)d ids at once.",
    }

    def __init__(self, *, max_items: int = 200, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_items = max_items

    def to_python(self, value: Any) -> list[uuid.UUID]:
        values = [] if value in self.empty_values else list(value)
        if len(values) > self.max_items:
            raise ValidationError(
                self.error_messages["too_many"], code="too_many", params={"limit": self.max_items}
            )
        ids = []
        for item in values:
            try:
                ids.append(uuid.UUID(str(item)))
            except ValueError:
                shown = repr(str(item)[:40])
                raise ValidationError(
                    self.error_messages["invalid"], code="invalid", params={"value": shown}
                ) from None
        return ids
