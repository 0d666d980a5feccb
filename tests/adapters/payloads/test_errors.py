"""PayloadError carries the field, the value and the reason, and reads well as a message."""

from __future__ import annotations

import pickle

import pytest

from adapters.payloads import PayloadError


def test_attributes_and_message() -> None:
    error = PayloadError("fPort", 0, "application FPort is 1 to 255")
    assert isinstance(error, ValueError)
    assert (error.field, error.value, error.reason) == ("fPort", 0, "application FPort is 1 to 255")
    assert str(error) == "application FPort is 1 to 255 (field 'fPort', value 0)"


def test_long_values_are_shortened_in_the_message_only() -> None:
    value = "x" * 500
    error = PayloadError("data", value, "not valid base64")
    assert error.value == value
    assert len(str(error)) < 150 and str(error).endswith("...)")


def test_survives_pickling() -> None:
    error = PayloadError("time", "yesterday", "not an RFC 3339 timestamp")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.field, copy.value, copy.reason, str(copy)) == (
        error.field,
        error.value,
        error.reason,
        str(error),
    )


def test_is_raised_as_a_value_error() -> None:
    with pytest.raises(ValueError, match="field 'x'"):
        raise PayloadError("x", 1, "bad")
