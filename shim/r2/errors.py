"""R2 failures as production reports them: an HTTP status, a v4 code and a message.

workerd turns the `CF-R2-Error` header into `Error("<action>: <message> (<v4code>)")`,
except for the few (status, code) pairs it maps to `null` or to an object without
a body (specs/r2.md A.4), so the three values must be exactly production's.
"""

from __future__ import annotations

import orjson

ERROR_HEADER = "cf-r2-error"


class R2Error(Exception):
    def __init__(self, status: int, v4code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.v4code = v4code
        self.message = message
        # A failed `get` precondition carries the object's metadata JSON (workerd requires it).
        self.metadata: bytes | None = None

    def header(self) -> str:
        """The header value; messages are ASCII, so no escape reaches capnp's JSON parser."""
        document = {"version": 1, "v4code": self.v4code, "message": self.message}
        return orjson.dumps(document).decode()


def internal_error() -> R2Error:
    return R2Error(500, 10001, "We encountered an internal error. Please try again.")


def no_such_key() -> R2Error:
    return R2Error(404, 10007, "The specified key does not exist.")


def entity_too_small() -> R2Error:
    return R2Error(
        400, 10011, "Your proposed upload is smaller than the minimum allowed object size."
    )


def metadata_too_large() -> R2Error:
    return R2Error(400, 10012, "Your metadata headers exceed the maximum allowed metadata size.")


def invalid_object_name() -> R2Error:
    return R2Error(400, 10020, "The specified object name is not valid.")


def invalid_max_keys() -> R2Error:
    return R2Error(400, 10022, "MaxKeys params must be positive integer <= 1000.")


def no_such_upload() -> R2Error:
    return R2Error(400, 10024, "The specified multipart upload does not exist.")


def invalid_part() -> R2Error:
    return R2Error(400, 10025, "One or more of the specified parts could not be found.")


def too_many_keys() -> R2Error:
    """Production's answer to delete() with no keys or more than 1,000."""
    return R2Error(
        400, 10027, "The number of keys in the request must be between 1 and 1000 inclusive."
    )


def invalid_metadata() -> R2Error:
    return R2Error(400, 10029, "Metadata missing or invalid")


def precondition_failed() -> R2Error:
    return R2Error(412, 10031, "At least one of the pre-conditions you specified did not hold.")


def bad_digest(algorithm: str, provided: bytes, actual: bytes) -> R2Error:
    return R2Error(
        400,
        10037,
        f"The {algorithm} checksum you specified did not match what we received.\n"
        f"You provided a {algorithm} checksum with value: {provided.hex()}\n"
        f"Actual {algorithm} was: {actual.hex()}",
    )


def invalid_range() -> R2Error:
    return R2Error(416, 10039, "The requested range is not satisfiable")


def invalid_storage_class() -> R2Error:
    return R2Error(400, 10040, "The storage class you specified is not valid.")


def bad_upload() -> R2Error:
    return R2Error(500, 10048, "There was a problem with the multipart upload.")


def entity_too_large() -> R2Error:
    return R2Error(400, 100100, "Your proposed upload exceeds the maximum allowed object size.")
