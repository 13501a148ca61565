"""LIFF card API, mounted at /api/liff/v1/. Thin: parse, call one service, shape the reply.

Every call carries ``Authorization: Bearer <LIFF ID token>`` (``liff.getIDToken()``); the
server asks LINE who that is. 401 ``id_token_expired`` means: get a new token and retry.
"""

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router
from ninja.security import HttpBearer

from liff.schemas import (
    CardCodeOut,
    CardOut,
    ErrorOut,
    HistoryOut,
    LinkedOut,
    LinkIn,
    MarketingIn,
    MarketingOut,
    UnlinkOut,
    card_code_out,
    card_out,
    history_out,
)
from liff.selectors import history_for_line_user
from liff.services.cards import (
    Registration,
    liff_link_existing,
    liff_marketing_set,
    liff_register_and_link,
    liff_unlink,
    member_card_code_refresh,
    member_card_open,
)
from liff.services.id_tokens import VerifiedLineUser, line_user_verify


class LiffIdTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> VerifiedLineUser:
        return line_user_verify(token)


router = Router(auth=LiffIdTokenAuth(), tags=["LIFF"])
ERRORS: dict[int, Any] = {code: ErrorOut for code in (400, 401, 404, 409, 422, 429, 503)}


def _user(request: HttpRequest) -> VerifiedLineUser:
    # Set by LiffIdTokenAuth; django-ninja attaches it to the request dynamically.
    return request.auth  # type: ignore[attr-defined]


@router.get("/card", response={200: CardOut, **ERRORS})
def card(request: HttpRequest):
    opened = member_card_open(user=_user(request))
    return card_out(opened) if opened is not None else {"linked": False}


@router.post("/card/code", response={200: CardCodeOut, **ERRORS})
def card_code(request: HttpRequest):
    refreshed = member_card_code_refresh(user=_user(request))
    return card_code_out(refreshed.code, points_balance=refreshed.points_balance)


@router.get("/history", response={200: HistoryOut, **ERRORS})
def history(
    request: HttpRequest,
    kind: Literal["purchases", "points"] | None = None,
    before: int | None = None,
    limit: int = Query(10, ge=1, le=50),
):
    page = history_for_line_user(
        line_user_id=_user(request).user_id, kind=kind, before=before, limit=limit
    )
    return history_out(purchases=page.purchases, points=page.point_entries)


@router.post("/link", response={200: LinkedOut, **ERRORS})
def link(request: HttpRequest, payload: LinkIn):
    user = _user(request)
    if payload.registration is not None:
        data = payload.registration.model_dump(exclude={"agree"})
        linked = liff_register_and_link(
            user=user, registration=Registration(**data), store_code=payload.store
        )
    else:
        assert payload.card_number is not None and payload.birth_date is not None  # LinkIn
        linked = liff_link_existing(
            user=user,
            card_number=payload.card_number,
            birth_date=payload.birth_date,
            ip=request.META.get("REMOTE_ADDR"),
            store_code=payload.store,
        )
    return {**card_out(linked.card), "bonus_awarded": linked.bonus_awarded}


@router.post("/unlink", response={200: UnlinkOut, **ERRORS})
def unlink(request: HttpRequest):
    return {"linked": False, "unlinked": liff_unlink(user=_user(request))}


@router.post("/marketing", response={200: MarketingOut, **ERRORS})
def marketing(request: HttpRequest, payload: MarketingIn):
    return {"marketing_opt_in": liff_marketing_set(user=_user(request), opt_in=payload.opt_in)}
