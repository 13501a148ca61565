"""The one error type the domain raises, and how the API turns it into a response body.

Every API error body has the same shape: ``{"code", "message", "extra"}``. ``code`` is stable
and is what clients (and tests) branch on; ``message`` is for people; ``extra`` carries details.
"""

from typing import Any, ClassVar


class ApplicationError(Exception):
    code: ClassVar[str] = "application_error"
    status: ClassVar[int] = 400
    default_message: ClassVar[str] = "The request could not be completed."

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or self.default_message
        self.extra = extra
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "extra": self.extra}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra}
