"""Settings from the environment, declared once: on the resource (or settings model) field they set.

A field names its environment variable(s) with ``env(...)`` beside its type, default and description;
``from_environment`` builds the resource from whatever the environment sets, so the same variables
configure ``dagster dev``, the daily schedule and ``make demo``. Secrets (``secret=True``) become Dagster
``EnvVar``s: the UI shows the variable's name, never its value. A value the field can't take fails at
load with the variable's name.
"""

from __future__ import annotations

import os
from typing import Annotated, Mapping, TypeVar, get_args

import dagster as dg
import pydantic
from pydantic import Field

T = TypeVar("T", bound=pydantic.BaseModel)


def env(*variables: str, description: str, secret: bool = False, **field_options):
    """A field set by the first of ``variables`` the environment sets (a pydantic ``Field``)."""
    names = " or ".join(variables)
    return Field(description=f"{description} (environment: {names})",
                 json_schema_extra={"env": list(variables), "secret": secret}, **field_options)


# Shared by every local implementation: where the local backend keeps its files.
LocalRoot = Annotated[str, env("RECSYS_LOCAL_ROOT", default=".recsys",
                               description="Local engine state, local S3 directory and demo database")]
# On the aws backend, unset means the AWS profile's region, as every boto3 tool reads it.
Region = Annotated[str, env("RECSYS_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", default="us-east-1",
                            description="The AWS region of Personalize (and of its bucket)")]


class SettingsError(ValueError):
    """An environment variable is missing or holds a value its setting can't take; names the variable."""


def variables_of(model: type[pydantic.BaseModel]) -> dict[str, tuple[list[str], bool]]:
    """field -> (its environment variables, whether it is secret)."""
    out = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("env"):
            out[name] = (list(extra["env"]), bool(extra.get("secret")))
    return out


def from_environment(model: type[T], environ: Mapping[str, str] | None = None, **given) -> T:
    """``model`` with the fields the environment sets; ``given`` values win (wiring, not settings)."""
    environ = os.environ if environ is None else environ
    declared = variables_of(model)
    values: dict = {}
    source: dict[str, str] = {}
    for name, (variables, secret) in declared.items():
        variable = _first_set(variables, environ)
        if variable is None or name in given:
            continue
        source[name] = variable
        values[name] = dg.EnvVar(variable) if secret else environ[variable].strip()
    missing = [" or ".join(declared[name][0]) for name, info in model.model_fields.items()
               if info.is_required() and name in declared and name not in values and name not in given]
    if missing:
        raise SettingsError(f"{model.__name__}: {' and '.join(missing)} must be set")
    try:
        return model(**values, **given)
    except pydantic.ValidationError as e:
        problems = []
        for error in e.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            shown = "" if declared.get(field, ([], False))[1] else f", not {error.get('input')!r}"
            problems.append(f"{source.get(field, field)}: {error['msg']}{shown}")
        raise SettingsError(f"{model.__name__}: {'; '.join(problems)}") from None


_DECLARED = object()


def setting(annotated, environ: Mapping[str, str] | None = None, default=_DECLARED):
    """The value of a shared setting type (``LocalRoot``, ``Region``) on its own, for wiring resources;
    ``default`` replaces the declared one when no variable is set."""
    environ = os.environ if environ is None else environ
    info = get_args(annotated)[1]
    variable = _first_set(info.json_schema_extra["env"], environ)
    if variable:
        return environ[variable].strip()
    return info.default if default is _DECLARED else default


def _first_set(variables: list[str], environ: Mapping[str, str]) -> str | None:
    return next((v for v in variables if environ.get(v, "").strip()), None)
