"""Role boundaries on every HQ URL, in one table.

``test_every_hq_url_is_in_the_matrix`` walks the URL configuration, so a new HQ page that
nobody added here fails the suite instead of shipping without a role check.
"""

import datetime

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from broadcasts.models import Broadcast, BroadcastKind, Segment, StepMessage
from hq.roles import HqRole
from line_messaging.models import Trigger
from pos_bridge.models import Purchase, StaffRole

ROLES = ["anonymous", "no_role", "superuser", *HqRole]
HQ = {"superuser", HqRole.HQ_ADMIN, HqRole.HQ_ANALYST}
ADMINS = {"superuser", HqRole.HQ_ADMIN}
ALL = HQ | {HqRole.STORE_MANAGER, HqRole.STORE_STAFF}
MANAGERS = HQ | {HqRole.STORE_MANAGER}

# (url name, method, path template, roles let through). Objects in the path are made by the
# ``objects`` fixture; everyone else logged in gets 403, anonymous visitors the login page.
MATRIX = [
    ("analytics:dashboard", "GET", "/hq/", MANAGERS),
    ("audit:audit_index", "GET", "/hq/audit/", HQ),
    ("broadcasts:segments_index", "GET", "/hq/segments/", HQ),
    ("broadcasts:segment_new", "GET", "/hq/segments/new/", ADMINS),
    ("broadcasts:segment_new", "POST", "/hq/segments/new/", ADMINS),
    ("broadcasts:segment_count_json", "GET", "/hq/segments/count.json", HQ),
    ("broadcasts:segment_edit", "GET", "/hq/segments/{segment}/", HQ),
    ("broadcasts:segment_edit", "POST", "/hq/segments/{segment}/", ADMINS),
    ("broadcasts:broadcasts_index", "GET", "/hq/broadcasts/", HQ),
    ("broadcasts:broadcast_new", "GET", "/hq/broadcasts/new/", ADMINS),
    ("broadcasts:broadcast_new", "POST", "/hq/broadcasts/new/", ADMINS),
    ("broadcasts:broadcast_detail", "GET", "/hq/broadcasts/{broadcast}/", HQ),
    ("broadcasts:broadcast_edit", "GET", "/hq/broadcasts/{broadcast}/edit/", ADMINS),
    ("broadcasts:broadcast_schedule", "POST", "/hq/broadcasts/{broadcast}/schedule/", ADMINS),
    ("broadcasts:broadcast_cancel", "POST", "/hq/broadcasts/{broadcast}/cancel/", ADMINS),
    ("broadcasts:broadcast_test_send", "POST", "/hq/broadcasts/{broadcast}/test-send/", ADMINS),
    ("broadcasts:messages_index", "GET", "/hq/messages/", HQ),
    ("broadcasts:step_new", "GET", "/hq/messages/steps/new/", ADMINS),
    ("broadcasts:step_edit", "GET", "/hq/messages/steps/{step}/", HQ),
    ("broadcasts:step_edit", "POST", "/hq/messages/steps/{step}/", ADMINS),
    ("broadcasts:triggered_message_edit", "GET", "/hq/messages/{trigger}/", HQ),
    ("broadcasts:triggered_message_edit", "POST", "/hq/messages/{trigger}/", ADMINS),
    ("hq:store_index", "GET", "/hq/stores/", HQ),
    ("hq:store_poster", "GET", "/hq/stores/shibuya/poster", HQ),
    ("hq:store_poster_png", "GET", "/hq/stores/shibuya/poster.png", HQ),
    ("hq:export_index", "GET", "/hq/exports/", MANAGERS),
    ("hq:export_csv", "GET", "/hq/exports/purchases.csv", MANAGERS),
    ("hq:export_csv", "GET", "/hq/exports/members.csv", HQ),
    ("hq:purchase_index", "GET", "/hq/purchases/", ALL),
    ("hq:purchase_detail", "GET", "/hq/purchases/{purchase}/", ALL),
    ("hq:member_search", "GET", "/hq/members/", HQ),
    ("hq:member_detail", "GET", "/hq/members/{card}/", HQ),
    ("hq:member_adjust", "POST", "/hq/members/{card}/adjust", ADMINS),
    ("hq:member_withdrawal", "POST", "/hq/members/{card}/withdraw", ADMINS),
]


def _hq_url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, prefix: str, namespace: str | None) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(
                    entry.url_patterns,
                    prefix + str(entry.pattern),
                    entry.namespace or namespace,
                )
            elif isinstance(entry, URLPattern) and prefix.startswith("hq/"):
                names.add(f"{namespace}:{entry.name}")

    walk(get_resolver().url_patterns, "", None)
    return names


def test_every_hq_url_is_in_the_matrix():
    assert _hq_url_names() == {name for name, *_ in MATRIX}


@pytest.fixture(autouse=True)
def liff_settings(settings):
    settings.LIFF_ID = "1650000000-AbCdEfGh"


@pytest.fixture
def objects(store, pos, make_member) -> dict[str, object]:
    member = make_member(card_number="70000001")
    assert pos.purchase(card=member.card_number, total=1_000).status_code == 201
    segment = Segment.objects.create(name="全員")
    broadcast = Broadcast.objects.create(
        name="お知らせ", segment=segment, kind=BroadcastKind.TEXT, text="こんにちは"
    )
    step = StepMessage.objects.create(name="お礼", days_after=3, template="{name}様")
    return {
        "segment": segment.pk,
        "broadcast": broadcast.pk,
        "step": step.pk,
        "trigger": Trigger.PURCHASE_RECEIPT.value,
        "purchase": Purchase.objects.get().pk,
        "card": member.card_number,
        "today": datetime.date.today(),
    }


@pytest.fixture
def client_as(make_user, store):
    def make(role: str) -> Client:
        client = Client()
        if role != "anonymous":
            store_role = role in StaffRole.values
            client.force_login(make_user(role, store=store if store_role else None))
        return client

    return make


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "method", "template", "allowed"),
    MATRIX,
    ids=[f"{method} {template}" for _, method, template, _ in MATRIX],
)
def test_each_role_reaches_only_its_hq_urls(
    client_as, objects, role, name, method, template, allowed
):
    path = template.format(**objects)
    client = client_as(role)
    response = client.get(path) if method == "GET" else client.post(path, {})
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")
    elif role in allowed:
        # Let through: the page, a form error, or a redirect after a refused empty form.
        assert response.status_code not in (401, 403, 404, 405, 500), response.status_code
    else:
        assert response.status_code == 403
