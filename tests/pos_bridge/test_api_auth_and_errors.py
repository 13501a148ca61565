"""Terminal authentication and the error contract: every refusal is a 4xx with
``{"code", "message", "extra"}``, never a 500, and writes nothing."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from pos_bridge.models import Purchase
from pos_bridge.services.stores import terminal_revoke
from tests.conftest import PosClient
from tests.pos_bridge.helpers import assert_error, written


@pytest.fixture
def pos(terminal) -> PosClient:
    """The shared POS client, but a server error comes back as a 500 response to assert on
    instead of an exception raised into the test."""
    pos = PosClient(terminal.api_key)
    pos.client.raise_request_exception = False
    return pos


@pytest.fixture
def anonymous(db) -> Client:
    return Client(raise_request_exception=False)


def _purchase_body(**fields) -> dict:
    body = {
        "receipt_number": "R-1",
        "occurred_at": (timezone.now() - datetime.timedelta(minutes=1)).isoformat(),
        "total": 1_000,
    }
    body.update(fields)
    return body


def _refund_body(**fields) -> dict:
    body = {
        "refund_receipt_number": "RR-1",
        "amount": 100,
        "occurred_at": timezone.now().isoformat(),
    }
    body.update(fields)
    return body


ENDPOINTS = [
    ("post", "/api/pos/v1/cards/resolve", {"card": "12345678"}),
    ("post", "/api/pos/v1/purchases", _purchase_body()),
    ("post", "/api/pos/v1/purchases/batch", {"purchases": [{"idempotency_key": "k"}]}),
    ("get", "/api/pos/v1/purchases/1", None),
    ("post", "/api/pos/v1/purchases/1/refunds", _refund_body()),
    ("get", "/api/pos/v1/terminal", None),
]
ENDPOINT_IDS = ["resolve", "purchase", "batch", "get_purchase", "refund", "terminal"]


def _call(client: Client, method: str, path: str, body, headers: dict):
    if method == "get":
        return client.get(path, headers=headers)
    return client.post(path, body, content_type="application/json", headers=headers)


# --- authentication ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_request_without_api_key_is_unauthorized(anonymous, make_member, method, path, body):
    make_member(card_number="12345678")
    before = written()

    response = _call(anonymous, method, path, body, {"Idempotency-Key": "k"})

    assert_error(response, 401, "unauthorized")
    assert written() == before


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer pos_000000000000_" + "x" * 43,
        "Bearer ",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "pos_000000000000_abc",
    ],
    ids=["garbage", "unknown_key", "empty_bearer", "bare_bearer", "basic", "no_scheme"],
)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_request_with_invalid_api_key_is_unauthorized(
    anonymous, terminal, method, path, body, authorization
):
    before = written()

    response = _call(
        anonymous, method, path, body, {"Authorization": authorization, "Idempotency-Key": "k"}
    )

    assert_error(response, 401, "unauthorized")
    assert written() == before


def test_key_with_right_prefix_but_wrong_secret_is_unauthorized(anonymous, terminal):
    scheme, prefix, _secret = terminal.api_key.split("_", 2)
    forged = f"{scheme}_{prefix}_{'A' * 43}"

    response = anonymous.post(
        "/api/pos/v1/purchases",
        _purchase_body(),
        content_type="application/json",
        headers={"Authorization": f"Bearer {forged}", "Idempotency-Key": "k"},
    )

    assert_error(response, 401, "unauthorized")
    assert Purchase.objects.count() == 0


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=ENDPOINT_IDS)
def test_revoked_terminal_is_unauthorized(pos, terminal, method, path, body):
    terminal_revoke(terminal=terminal.terminal)
    before = written()

    response = _call(pos.client, method, path, body, {**pos.headers, "Idempotency-Key": "k"})

    assert_error(response, 401, "unauthorized")
    assert written() == before


def test_valid_key_is_accepted(pos):
    assert pos.purchase(total=100).status_code == 201


def test_terminal_endpoint_names_the_terminal_and_store_of_the_key(pos, terminal):
    response = pos.get("/terminal")

    assert response.status_code == 200
    assert response.json() == {
        "terminal_id": terminal.terminal.pk,
        "terminal_name": terminal.terminal.name,
        "store_code": terminal.terminal.store.code,
        "store_name": terminal.terminal.store.name,
        "store_active": True,
    }


def test_terminal_endpoint_tells_the_installer_that_the_store_is_closed(pos, terminal):
    store = terminal.terminal.store
    store.active = False
    store.save()

    response = pos.get("/terminal")

    # Answered (the key is right) but flagged: purchases would be refused as store_inactive.
    assert response.status_code == 200
    assert response.json()["store_active"] is False


# --- malformed and invalid bodies ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ['{"receipt_number": "R-1",', "not json", '{"total": 1000,}', "{'total': 1000}"],
    ids=["truncated", "text", "trailing_comma", "single_quotes"],
)
@pytest.mark.parametrize(
    "path",
    ["/purchases", "/purchases/batch", "/cards/resolve"],
    ids=["purchase", "batch", "resolve"],
)
def test_malformed_json_is_a_bad_request(pos, path, raw):
    before = written()

    response = pos.post(path, raw, key="k")

    assert_error(response, 400, "bad_request")
    assert written() == before


def test_malformed_json_refund_is_a_bad_request(pos):
    purchase_id = pos.purchase(total=1_000).json()["purchase_id"]
    before = written()

    response = pos.post(f"/purchases/{purchase_id}/refunds", '{"amount": ', key="k")

    assert_error(response, 400, "bad_request")
    assert written() == before


@pytest.mark.parametrize(
    "changes",
    [
        {"total": 1000.0},
        {"total": 1000.5},
        {"total": "1000"},
        {"total": True},
        {"total": None},
        {"total": -1},
        {"total": 100_000_001},
        {"total": 10**30},
        {"points_to_redeem": -1},
        {"points_to_redeem": 1.0},
        {"points_to_redeem": "10"},
        {"receipt_number": ""},
        {"receipt_number": "R 1"},
        {"receipt_number": "レシート1"},
        {"receipt_number": "R" * 65},
        {"receipt_number": 123},
        {"occurred_at": "yesterday"},
        {"occurred_at": "2025-13-01T00:00:00"},
        {"occurred_at": None},
        {"card": ""},
        {"card": 12345678},
        {"card": "1" * 65},
        {"items": [{"sku": "A", "quantity": 0, "unit_price": 100}]},
        {"items": [{"sku": "A", "quantity": 1, "unit_price": -1}]},
        {"items": [{"sku": "A", "quantity": 1.5, "unit_price": 100}]},
        {"items": [{"sku": "", "quantity": 1, "unit_price": 100}]},
        {"items": [{"sku": "A", "quantity": 1, "unit_price": 100, "colour": "red"}]},
        {"items": "A-1"},
        {"points_to_reedem": 10},
        {"discount": 100},
    ],
    ids=lambda changes: "-".join(f"{k}={v!r}"[:40] for k, v in changes.items()),
)
def test_purchase_with_wrong_types_or_absurd_values_is_a_validation_error(
    pos, make_member, changes
):
    make_member(card_number="12345678")
    before = written()

    response = pos.post("/purchases", _purchase_body(**{"card": "12345678", **changes}), key="k")

    assert_error(response, 422, "validation_error")
    assert written() == before


@pytest.mark.parametrize("missing", ["receipt_number", "occurred_at", "total"])
def test_purchase_missing_a_required_field_is_a_validation_error(pos, missing):
    body = _purchase_body()
    del body[missing]
    before = written()

    assert_error(pos.post("/purchases", body, key="k"), 422, "validation_error")
    assert written() == before


@pytest.mark.parametrize("raw", ["null", "[]", "123", '"purchase"', ""])
def test_purchase_body_that_is_not_an_object_is_a_validation_error(pos, raw):
    before = written()

    assert_error(pos.post("/purchases", raw, key="k"), 422, "validation_error")
    assert written() == before


def test_purchase_with_more_than_500_items_is_a_validation_error(pos):
    items = [{"sku": f"S-{i}", "quantity": 1, "unit_price": 1} for i in range(501)]
    before = written()

    response = pos.post("/purchases", _purchase_body(total=501, items=items), key="k")

    assert_error(response, 422, "validation_error")
    assert written() == before


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": 0},
        {"amount": -100},
        {"amount": 100.0},
        {"amount": "100"},
        {"amount": 100_000_001},
        {"refund_receipt_number": ""},
        {"refund_receipt_number": "RR 1"},
        {"occurred_at": "soon"},
        {"reason": "broken"},
    ],
    ids=lambda changes: "-".join(f"{k}={v!r}" for k, v in changes.items()),
)
def test_refund_with_wrong_types_or_absurd_values_is_a_validation_error(pos, make_member, changes):
    member = make_member()
    purchase_id = pos.purchase(total=1_000, card=member.card_number).json()["purchase_id"]
    before = written()

    response = pos.post(f"/purchases/{purchase_id}/refunds", _refund_body(**changes), key="k")

    assert_error(response, 422, "validation_error")
    assert written() == before


def test_non_numeric_purchase_id_is_a_validation_error(pos):
    assert_error(pos.get("/purchases/abc"), 422, "validation_error")
    assert_error(
        pos.post("/purchases/abc/refunds", _refund_body(), key="k"), 422, "validation_error"
    )


def test_huge_purchase_id_is_not_found(pos):
    assert_error(pos.get("/purchases/99999999999999999999"), 404, "purchase_not_found")


def test_absurdly_old_occurred_at_is_refused_with_a_4xx_not_a_crash(pos, make_member):
    member = make_member()
    before = written()

    response = pos.post(
        "/purchases",
        _purchase_body(card=member.card_number, occurred_at="0001-01-01T00:00:00+09:00"),
        key="k",
    )

    assert 400 <= response.status_code < 500, (response.status_code, response.content[:200])
    assert set(response.json()) == {"code", "message", "extra"}
    assert written() == before


# --- unknown paths and methods -----------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/nope", "/api/pos/v1/nope", "/api/pos/v2/purchases", "/api/pos/v1/purchases/1/x"]
)
def test_unknown_api_path_is_a_json_not_found(pos, path):
    response = pos.client.get(path, headers=pos.headers)

    assert_error(response, 404, "not_found")


def test_unknown_api_path_is_a_json_not_found_without_auth(anonymous):
    assert_error(anonymous.post("/api/pos/v1/refunds", {}), 404, "not_found")


def test_wrong_http_method_gets_the_error_body_too(pos):
    response = pos.client.get("/api/pos/v1/purchases", headers=pos.headers)

    assert_error(response, 405, "method_not_allowed")


def test_openapi_schema_documents_the_pos_endpoints(anonymous):
    response = anonymous.get("/api/openapi.json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/pos/v1/cards/resolve",
        "/api/pos/v1/purchases",
        "/api/pos/v1/purchases/batch",
        "/api/pos/v1/purchases/{purchase_id}",
        "/api/pos/v1/purchases/{purchase_id}/refunds",
    ):
        assert path in paths
