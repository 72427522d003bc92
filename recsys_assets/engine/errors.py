"""The service's error answers: a code (the exception botocore raises) and the message."""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def invalid(message: str) -> ServiceError:
    return ServiceError("InvalidInputException", message)


def not_found(arn: str) -> ServiceError:
    return ServiceError("ResourceNotFoundException", f"Resource Arn {arn} does not exist.")


def in_use(message: str) -> ServiceError:
    return ServiceError("ResourceInUseException", message)


def already_exists(message: str) -> ServiceError:
    return ServiceError("ResourceAlreadyExistsException", message)


def limit_exceeded(message: str) -> ServiceError:
    return ServiceError("LimitExceededException", message)


def check_quota(count: int, limit: int, message: str) -> None:
    """``count``: the resources the quota counts (those being deleted no longer do)."""
    if count >= limit:
        raise limit_exceeded(message)


def unsupported(feature: str) -> ServiceError:
    """A documented feature the engine does not emulate: a modeled InvalidInputException naming it, raised after
    the request's own validation, so a client's ``except ClientError`` handles it as it would any refusal."""
    return ServiceError("InvalidInputException",
                        f"The local Personalize engine does not support {feature}.")
