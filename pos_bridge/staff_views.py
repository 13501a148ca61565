"""The staff scanner pages (/staff/): log in, scan a member card, record a sale, refund.

Thin: each view validates a form, calls one service in ``pos_bridge.services.staff`` and
renders its result. The store is always the logged-in staff member's own.
"""

import datetime
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import LoginView, LogoutView, redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from common.errors import ApplicationError
from membership.errors import CardCodeExpired, CardCodeUsed
from pos_bridge.errors import (
    IdempotencyKeyReused,
    IdempotencyRequestInProgress,
    PurchaseNotFound,
)
from pos_bridge.forms import (
    CardLookupForm,
    PurchaseForm,
    ReceiptSearchForm,
    RefundForm,
    StaffAuthenticationForm,
)
from pos_bridge.models import StaffMember
from pos_bridge.services.staff import (
    CardLookup,
    staff_card_lookup,
    staff_form_key_new,
    staff_member_for_user,
    staff_purchase_by_receipt,
    staff_purchase_submit,
    staff_recent_purchases,
    staff_refund_submit,
)

# Staff sessions end after this long without a staff page request (a shared tablet left
# logged in at the till must not stay usable).
STAFF_IDLE_TIMEOUT = datetime.timedelta(minutes=30)
# The stored session itself lives a while longer, only so that a staff member coming back
# is told why they were logged out; the idle check above is what locks the pages.
STAFF_SESSION_BACKSTOP = 2 * STAFF_IDLE_TIMEOUT
_LAST_SEEN_KEY = "staff_last_seen"

StaffView = Callable[..., HttpResponse]


def staff_required(view: StaffView) -> Callable[..., HttpResponse]:
    """Let in logged-in store staff only; end the session after 30 idle minutes.

    Passes the ``StaffMember`` to the view. Anonymous → login page; an account without a
    store (e.g. HQ) → 403.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        login_url = reverse("staff:login")
        staff = staff_member_for_user(request.user)
        if staff is None:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), login_url)
            return render(request, "pos_bridge/staff/forbidden.html", status=403)
        now = timezone.now().timestamp()
        last_seen = request.session.get(_LAST_SEEN_KEY)
        if last_seen is not None and now - last_seen > STAFF_IDLE_TIMEOUT.total_seconds():
            logout(request)
            messages.info(request, "30分間操作がなかったため、ログアウトしました。")
            # A form submitted after the timeout is not recorded: back to the page, not
            # to a POST-only URL.
            next_url = request.get_full_path() if request.method == "GET" else reverse("staff:home")
            return redirect_to_login(next_url, login_url)
        _staff_session_touch(request, now)
        return view(request, staff, *args, **kwargs)

    return wrapped


def _staff_session_touch(request: HttpRequest, now: float) -> None:
    request.session[_LAST_SEEN_KEY] = now
    # Saved on every staff request (the key above changes), so the database session and its
    # cookie run out too, shortly after the idle timeout, however the session is used.
    request.session.set_expiry(int(STAFF_SESSION_BACKSTOP.total_seconds()))


class StaffLoginView(LoginView):
    template_name = "pos_bridge/staff/login.html"
    authentication_form = StaffAuthenticationForm
    redirect_authenticated_user = False
    next_page = "staff:home"

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        _staff_session_touch(self.request, timezone.now().timestamp())
        return response


class StaffLogoutView(LogoutView):
    next_page = "staff:login"


def _page(
    request: HttpRequest,
    staff: StaffMember,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        f"pos_bridge/staff/{template}",
        {
            "staff": staff,
            "store": staff.store,
            "nav": "refund" if template.startswith("refund") else "checkout",
            **context,
        },
        status=status,
    )


def _home(
    request: HttpRequest,
    staff: StaffMember,
    form: CardLookupForm | None = None,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    return _page(
        request,
        staff,
        "scan.html",
        {
            "form": form or CardLookupForm(),
            "error": error,
            "recent": staff_recent_purchases(store=staff.store),
        },
        status=status,
    )


@require_GET
@staff_required
def home(request: HttpRequest, staff: StaffMember) -> HttpResponse:
    """The scan page: camera, USB scanner (it types into the focused field) or typing."""
    return _home(request, staff)


@require_POST
@staff_required
def card_lookup(request: HttpRequest, staff: StaffMember) -> HttpResponse:
    """Show the member behind the scanned card and the checkout form."""
    form = CardLookupForm(request.POST)
    if not form.is_valid():
        return _home(request, staff, form, status=400)
    try:
        lookup = staff_card_lookup(card=form.cleaned_data["card"])
    except ApplicationError as exc:
        return _home(request, staff, form, error=exc.message, status=exc.status)
    purchase_form = PurchaseForm(
        initial={
            "card": lookup.card,
            "form_key": staff_form_key_new(),
            "total": form.cleaned_data.get("total"),
            "points_to_redeem": 0,
        }
    )
    return _checkout(request, staff, lookup, purchase_form)


def _checkout(
    request: HttpRequest,
    staff: StaffMember,
    lookup: CardLookup,
    form: PurchaseForm,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    return _page(
        request,
        staff,
        "checkout.html",
        {"lookup": lookup, "member": lookup.member, "form": form, "error": error},
        status=status,
    )


@require_POST
@staff_required
def purchase_submit(request: HttpRequest, staff: StaffMember) -> HttpResponse:
    """Record the sale once per rendered form, then show points earned and the balance."""
    form = PurchaseForm(request.POST)
    card = request.POST.get("card", "")
    if not form.is_valid():
        return _checkout_again(request, staff, form, card=card, status=400)
    data = form.cleaned_data
    try:
        stored = staff_purchase_submit(
            staff=staff,
            form_key=data["form_key"],
            card=data["card"],
            total=data["total"],
            points_to_redeem=data["points_to_redeem"],
        )
    except (CardCodeExpired, CardCodeUsed) as exc:
        # The phone's code lived 60 seconds: scan it again, keeping the amount.
        rescan = CardLookupForm(initial={"total": data["total"]})
        return _home(request, staff, rescan, error=exc.message, status=exc.status)
    except IdempotencyRequestInProgress:
        return _page(request, staff, "in_progress.html", {}, status=409)
    except IdempotencyKeyReused:
        return _page(request, staff, "already_submitted.html", {}, status=409)
    except ApplicationError as exc:
        return _checkout_again(
            request, staff, form, card=card, error=exc.message, status=exc.status
        )
    return _page(request, staff, "purchase_done.html", {"result": stored.body})


def _checkout_again(
    request: HttpRequest,
    staff: StaffMember,
    form: PurchaseForm,
    *,
    card: str,
    error: str = "",
    status: int,
) -> HttpResponse:
    """The checkout form with its errors, the member shown again from the same card."""
    try:
        lookup = staff_card_lookup(card=card)
    except ApplicationError as exc:
        rescan = CardLookupForm(initial={"total": form.data.get("total") or None})
        return _home(request, staff, rescan, error=error or exc.message, status=status)
    return _checkout(request, staff, lookup, form, error=error, status=status)


@require_http_methods(["GET", "POST"])
@staff_required
def refund(request: HttpRequest, staff: StaffMember) -> HttpResponse:
    """Find a purchase of this store by receipt number (GET); refund part or all (POST)."""
    if request.method == "POST":
        return _refund_submit(request, staff)
    search = ReceiptSearchForm(request.GET or None)
    if not search.is_valid():
        return _page(request, staff, "refund.html", {"search": search})
    purchase = staff_purchase_by_receipt(
        store=staff.store, receipt_number=search.cleaned_data["receipt"]
    )
    if purchase is None:
        return _page(
            request,
            staff,
            "refund.html",
            {"search": search, "error": PurchaseNotFound.default_message},
            status=404,
        )
    form = RefundForm(
        initial={
            "receipt_number": purchase.receipt_number,
            "form_key": staff_form_key_new(),
            "amount": purchase.refundable_amount or None,
        }
    )
    return _page(
        request, staff, "refund.html", {"search": search, "purchase": purchase, "form": form}
    )


def _refund_submit(request: HttpRequest, staff: StaffMember) -> HttpResponse:
    form = RefundForm(request.POST)
    receipt = request.POST.get("receipt_number", "")
    search = ReceiptSearchForm(initial={"receipt": receipt})
    error, status = "", 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            stored = staff_refund_submit(
                staff=staff,
                form_key=data["form_key"],
                receipt_number=data["receipt_number"],
                amount=data["amount"],
            )
        except IdempotencyRequestInProgress:
            return _page(request, staff, "in_progress.html", {}, status=409)
        except IdempotencyKeyReused:
            return _page(request, staff, "already_submitted.html", {}, status=409)
        except ApplicationError as exc:
            error, status = exc.message, exc.status
        else:
            return _page(request, staff, "refund_done.html", {"result": stored.body})
    purchase = staff_purchase_by_receipt(store=staff.store, receipt_number=receipt)
    if purchase is None:
        error = error or PurchaseNotFound.default_message
    return _page(
        request,
        staff,
        "refund.html",
        {
            "search": search,
            "purchase": purchase,
            "form": form if purchase else None,
            "error": error,
        },
        status=status,
    )
