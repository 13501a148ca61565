"""POST /marketing: the shopper opts out of (or back in to) marketing messages from the card
page; the card shows the current choice."""

import pytest

from line_messaging.models import LineFriend
from line_messaging.services.linking import link_direct

pytestmark = pytest.mark.django_db(transaction=True)


def test_card_shows_opt_in_and_the_user_can_opt_out_and_back_in(line_user, liff_client, member):
    user_id = line_user()
    link_direct(line_user_id=user_id, member=member)
    client = liff_client(user_id)
    assert client.card()["marketing_opt_in"] is True

    response = client.post("/marketing", {"opt_in": False})

    assert response.status_code == 200
    assert response.json() == {"marketing_opt_in": False}
    assert LineFriend.objects.get(user_id=user_id).marketing_opt_in is False
    assert client.card()["marketing_opt_in"] is False

    assert client.post("/marketing", {"opt_in": True}).json() == {"marketing_opt_in": True}
    assert LineFriend.objects.get(user_id=user_id).marketing_opt_in is True


def test_an_unlinked_user_can_opt_out_too(line_user, liff_client):
    user_id = line_user()

    response = liff_client(user_id).post("/marketing", {"opt_in": False})

    assert response.status_code == 200
    assert LineFriend.objects.get(user_id=user_id).marketing_opt_in is False


@pytest.mark.parametrize("body", [{}, {"opt_in": "maybe"}, {"opt_in": False, "extra": 1}])
def test_a_malformed_body_is_refused(line_user, liff_client, body):
    response = liff_client(line_user()).post("/marketing", body)

    assert response.status_code in (400, 422)


def test_opting_out_needs_a_valid_id_token(liff_line):
    from tests.liff.conftest import LiffClient

    assert LiffClient(None).post("/marketing", {"opt_in": False}).status_code == 401
    assert LiffClient("abc.def.ghi").post("/marketing", {"opt_in": False}).status_code == 401
    assert not LineFriend.objects.exists()
