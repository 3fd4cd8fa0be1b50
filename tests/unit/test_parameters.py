"""Job arguments round-trip through JSON exactly, or are refused naming the argument."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

from django_jobkit.exceptions import CorruptJobParameters, InvalidJobParameter
from django_jobkit.parameters import decode_arguments, encode_arguments


def init(self, user, when=None, *rest, **options):  # a stand-in __init__ for argument names
    pass


def roundtrip(*args, **kwargs):
    encoded = encode_arguments(init, args, kwargs)
    stored = json.loads(json.dumps(encoded))  # what the database gives back
    return decode_arguments(stored)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -7,
        1.5,
        "text ünïcode",
        dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.datetime(2026, 1, 2, 3, 4, 5),
        dt.date(2026, 2, 28),
        dt.time(23, 59, 59, 999999),
        dt.timedelta(days=-1, seconds=5, microseconds=7),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        Decimal("3.14159265358979323846264338327950288"),
        Decimal("-0.00"),
        [1, "a", [2.5, None]],
        (1, (2, 3), [4]),
        {"nested": {"list": [1, 2], "when": dt.date(2026, 1, 1)}},
        {1: "int key", (1, 2): "tuple key"},
        {"__jobkit__": "a user key that looks like our tag"},
    ],
)
def test_values_round_trip_exactly(value):
    args, kwargs = roundtrip(value, option=value)
    assert args == [value] and kwargs == {"option": value}
    assert type(args[0]) is type(value)
    if isinstance(value, dt.datetime):
        assert args[0].utcoffset() == value.utcoffset()
    if isinstance(value, Decimal):
        assert str(args[0]) == str(value)


@pytest.mark.parametrize(
    ("args", "kwargs", "name", "type_name"),
    [
        ((object(),), {}, "user", "builtins.object"),
        ((1, {1, 2}), {}, "when", "builtins.set"),
        ((1, 2, b"raw"), {}, "rest[0]", "builtins.bytes"),
        ((), {"user": [1, {"deep": object()}]}, "user[1]['deep']", "builtins.object"),
        ((), {"callback": print}, "callback", "builtin_function_or_method"),
    ],
)
def test_unstorable_values_are_refused_naming_argument_and_type(args, kwargs, name, type_name):
    with pytest.raises(InvalidJobParameter) as info:
        encode_arguments(init, args, kwargs)
    assert isinstance(info.value, TypeError)
    assert repr(name) in str(info.value)
    assert type_name in str(info.value)


def test_non_finite_floats_are_refused():
    with pytest.raises(InvalidJobParameter, match=r"'user'.*nan"):
        encode_arguments(init, (float("nan"),), {})


@pytest.mark.parametrize(
    "stored",
    [
        None,
        [],
        {"args": {}, "kwargs": {}},
        {"args": [{"__jobkit__": "datetime", "v": "not a date"}], "kwargs": {}},
        {"args": [{"__jobkit__": "no-such-tag"}], "kwargs": {}},
        {"args": [{"__jobkit__": "model", "model": "nope.Missing", "pk": 1}], "kwargs": {}},
    ],
)
def test_corrupt_stored_parameters_raise_a_named_error(stored):
    with pytest.raises(CorruptJobParameters):
        decode_arguments(stored)
