"""The service model's maximums, patterns and enums, checked as the server checks them.

botocore checks required members, types and minimums client-side; maximums, patterns and enums are the
server's, answered in AWS's validation wording as InvalidInputException (the service has no
ValidationException).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Callable, Iterator

import botocore.session


@functools.cache
def service_model():
    return botocore.session.get_session().get_service_model("personalize")


# Java regex classes Python's re lacks. \p{L}/\p{Z}/\p{N} appear only inside the tag pattern's character
# class: each stands for a noncharacter, and a value's letters, separators and numbers are mapped onto
# those before matching (anything else that is a stand-in is mapped to one that matches nothing).
_STAND_INS = {"L": "\ufdd0", "Z": "\ufdd1", "N": "\ufdd2"}


@functools.cache
def matcher(pattern: str) -> Callable[[str], bool]:
    # Java's \d, \w and \s are ASCII-only.
    translated = pattern.replace(r"\p{ASCII}", r"[\x00-\x7F]")
    if not re.search(r"\\p\{[LZN]\}", translated):
        regex = re.compile(translated, re.ASCII)
        return lambda value: regex.fullmatch(value) is not None
    regex = re.compile(re.sub(r"\\p\{([LZN])\}", lambda m: _STAND_INS[m[1]], translated), re.ASCII)

    def matches(value: str) -> bool:
        mapped = "".join(_STAND_INS.get(unicodedata.category(c)[0], "\ufdd3" if c in _STAND_INS.values() else c)
                         for c in value)
        return regex.fullmatch(mapped) is not None

    return matches


def constraint_errors(shape, value, path: str = "") -> Iterator[str]:
    """AWS-worded violations of the model's max/min, pattern and enum constraints in ``value``."""
    meta, kind = shape.metadata, shape.type_name
    shown = "Value" if meta.get("sensitive") or kind in ("list", "map") else f"Value '{value}'"
    where = f"{shown} at '{path}' failed to satisfy constraint: Member must"
    if kind == "structure":
        for name, member in shape.members.items():
            if value.get(name) is not None:
                yield from constraint_errors(member, value[name], f"{path}.{name}" if path else name)
    elif kind == "list":
        for i, item in enumerate(value, 1):
            yield from constraint_errors(shape.member, item, f"{path}.{i}.member")
    elif kind == "map":
        for key, item in value.items():
            yield from constraint_errors(shape.key, key, f"{path}.{key}.key")
            yield from constraint_errors(shape.value, item, f"{path}.{key}.value")
    if kind in ("string", "list", "map"):
        measure, size = "length", len(value)
    elif kind in ("integer", "long", "float", "double"):
        measure, size = "value", value
    else:
        return
    if "min" in meta and size < meta["min"]:
        yield f"{where} have {measure} greater than or equal to {meta['min']}"
    if "max" in meta and size > meta["max"]:
        yield f"{where} have {measure} less than or equal to {meta['max']}"
    if "enum" in meta and value not in meta["enum"]:
        yield f"{where} satisfy enum value set: [{', '.join(meta['enum'])}]"
    if "pattern" in meta and not matcher(meta["pattern"])(value):
        yield f"{where} satisfy regular expression pattern: {meta['pattern']}"


def request_errors(operation_model, params: dict) -> str | None:
    """The InvalidInputException message for a request that breaks the model's constraints, or None."""
    errors = list(constraint_errors(operation_model.input_shape, params))
    if not errors:
        return None
    count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''}"
    return f"{count} detected: {'; '.join(errors)}"
