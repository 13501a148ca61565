"""Errors the sandbox answers with, in LINE's own shapes.

``LineApiError`` becomes a Messaging API error body ``{"message", "details"?}``;
``SandboxStateError`` is for the simulator's controls (e.g. following twice).
"""

from typing import Any


class LineApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        details: list[dict[str, str]] | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        # LINE leaves out an empty details array on validation errors but sends
        # "details": [] on some rich menu errors; None means "leave it out".
        if self.details is not None:
            body["details"] = self.details
        body.update(self.extra)
        return body


def invalid_body(details: list[dict[str, str]]) -> LineApiError:
    return LineApiError(400, f"The request body has {len(details)} error(s)", details)


def invalid_user_id_parameter() -> LineApiError:
    return LineApiError(400, "The value for the 'userId' parameter is invalid")


def not_found() -> LineApiError:
    return LineApiError(404, "Not found")


class SandboxStateError(Exception):
    """A simulated user action that LINE would not allow (e.g. messaging after blocking)."""
