"""Job arguments as JSON: plain data as is, richer values as tagged objects, models by reference.

No pickle: a stored job can be read by any version of the code, inspected in the admin, and
cannot execute anything when decoded.
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.apps import apps
from django.db import models

from .exceptions import CorruptJobParameters, InvalidJobParameter, ReferencedObjectMissing

TAG = "__jobkit__"
JSONValue = Any


#: Where a job instance keeps the arguments it was built with (set by `Job.__new__`).
_CAPTURED = "_jobkit_arguments"


def capture(job: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Remember the arguments a job was built with, before its own `__init__` runs."""
    setattr(job, _CAPTURED, (args, kwargs))


def encode_job(job: Any) -> dict[str, Any]:
    """The JSON form of the arguments a job was built with (see `encode_arguments`)."""
    args, kwargs = getattr(job, _CAPTURED)
    return encode_arguments(type(job).__init__, args, kwargs)


def encode_arguments(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, JSONValue]:
    """Encode the arguments a job was constructed with; `func` is its `__init__`, for names."""
    names = _argument_names(func, len(args))
    return {
        "args": [_encode(value, names[i]) for i, value in enumerate(args)],
        "kwargs": {key: _encode(value, key) for key, value in kwargs.items()},
    }


def decode_arguments(data: Any) -> tuple[list[Any], dict[str, Any]]:
    """Rebuild `(args, kwargs)`; model references are fetched again from the database."""
    if not isinstance(data, dict) or set(data) != {"args", "kwargs"}:
        raise CorruptJobParameters(
            f"stored parameters must be an object with 'args' and 'kwargs', got {_preview(data)}"
        )
    if not isinstance(data["args"], list) or not isinstance(data["kwargs"], dict):
        raise CorruptJobParameters(
            f"stored 'args' must be a list and 'kwargs' an object, got {_preview(data)}"
        )
    return [_decode(v) for v in data["args"]], {k: _decode(v) for k, v in data["kwargs"].items()}


@lru_cache(maxsize=1024)
def _argument_names(func: Callable[..., Any], count: int) -> list[str]:
    try:
        params = list(inspect.signature(func).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):
        params = []
    names: list[str] = []
    for param in params:
        if param.kind is param.VAR_POSITIONAL:
            names.extend(f"{param.name}[{i}]" for i in range(count - len(names)))
            break
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names.append(param.name)
    names.extend(f"argument {i}" for i in range(len(names), count))
    return names


def _encode(value: Any, path: str) -> JSONValue:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidJobParameter(f"job argument {path!r} is {value!r}, which JSON cannot hold")
        return value
    if isinstance(value, models.Model):
        if value.pk is None:
            raise InvalidJobParameter(
                f"job argument {path!r} is an unsaved {type(value).__name__}: save it first, "
                "jobs receive model instances by primary key"
            )
        meta = value._meta
        return {TAG: "model", "model": meta.label_lower, "pk": _encode(value.pk, f"{path}.pk")}
    if isinstance(value, dt.datetime):
        return {TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {TAG: "date", "v": value.isoformat()}
    if isinstance(value, dt.time):
        return {TAG: "time", "v": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, uuid.UUID):
        return {TAG: "uuid", "v": str(value)}
    if isinstance(value, Decimal):
        return {TAG: "decimal", "v": str(value)}
    if type(value) is list:
        return [_encode(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if type(value) is tuple:
        return {TAG: "tuple", "v": [_encode(item, f"{path}[{i}]") for i, item in enumerate(value)]}
    if type(value) is dict:
        if all(isinstance(k, str) for k in value) and TAG not in value:
            return {k: _encode(v, f"{path}[{k!r}]") for k, v in value.items()}
        # Keys JSON would silently turn into strings (or our own tag) keep their type this way.
        return {
            TAG: "dict",
            "v": [
                [_encode(k, f"{path} key"), _encode(v, f"{path}[{k!r}]")] for k, v in value.items()
            ],
        }
    raise InvalidJobParameter(
        f"job argument {path!r} has type {type(value).__module__}.{type(value).__qualname__}, "
        "which cannot be stored as JSON; pass plain data, dates, UUIDs, Decimals or saved "
        "model instances"
    )


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "timedelta": lambda v: dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "uuid": uuid.UUID,
    "decimal": Decimal,
}


def _decode(value: JSONValue) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(TAG)
    if tag is None:
        return {k: _decode(v) for k, v in value.items()}
    try:
        if tag in _SCALARS:
            return _SCALARS[tag](value["v"])
        if tag == "tuple":
            return tuple(_decode(v) for v in value["v"])
        if tag == "dict":
            return {_decode(k): _decode(v) for k, v in value["v"]}
        if tag == "model":
            return _fetch_model(value["model"], _decode(value["pk"]))
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise CorruptJobParameters(f"cannot decode {_preview(value)}: {exc}") from exc
    raise CorruptJobParameters(f"unknown parameter tag {tag!r} in {_preview(value)}")


def _fetch_model(label: str, pk: Any) -> models.Model:
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError) as exc:
        raise CorruptJobParameters(f"model {label!r} is not installed") from exc
    try:
        return model._default_manager.get(pk=pk)
    except model.DoesNotExist:
        raise ReferencedObjectMissing(
            f"{model._meta.label} with pk={pk!r} no longer exists; it was deleted after the "
            "job was enqueued"
        ) from None


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
