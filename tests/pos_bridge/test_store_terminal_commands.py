"""``create_store`` and ``create_terminal``: how HQ sets up a shop and its tills."""

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from pos_bridge.models import Store, Terminal
from pos_bridge.services.stores import terminal_authenticate, terminal_revoke
from tests.conftest import PosClient


def _run(*args: str) -> str:
    stdout = io.StringIO()
    call_command(*args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue()


def test_create_store_creates_an_active_store(db):
    output = _run("create_store", "umeda", "梅田店", "--prefecture", "大阪府")

    store = Store.objects.get(code="umeda")
    assert (store.name, store.prefecture, store.active) == ("梅田店", "大阪府", True)
    assert "umeda" in output


def test_create_store_without_prefecture_is_allowed(db):
    _run("create_store", "online", "オンライン")

    assert Store.objects.get(code="online").prefecture == ""


@pytest.mark.parametrize(
    "args",
    [
        ("umeda", "梅田店", "--prefecture", "大阪"),
        ("umeda", "梅田店", "--prefecture", "Osaka"),
        ("umeda store", "梅田店"),
        ("", "梅田店"),
        ("umeda", ""),
    ],
    ids=["prefecture_without_suffix", "prefecture_romaji", "code_with_space", "no_code", "no_name"],
)
def test_create_store_with_bad_input_fails_with_nonzero_exit_and_creates_nothing(db, args):
    with pytest.raises(CommandError) as exc_info:
        _run("create_store", *args)

    assert exc_info.value.returncode != 0
    assert Store.objects.count() == 0


def test_create_store_with_a_taken_code_fails(store):
    with pytest.raises(CommandError):
        _run("create_store", store.code, "別の店")

    assert Store.objects.count() == 1


def test_create_terminal_prints_the_api_key_alone_on_the_last_line(store):
    output = _run("create_terminal", "--store", store.code, "--name", "register-9")

    api_key = output.rstrip("\n").splitlines()[-1]
    assert api_key == api_key.strip()
    assert " " not in api_key
    terminal = Terminal.objects.get(name="register-9")
    assert terminal.store == store
    assert terminal_authenticate(api_key) == terminal


def test_api_key_printed_by_create_terminal_authenticates_api_calls(store, make_member):
    member = make_member(points=7)
    output = _run("create_terminal", "--store", store.code, "--name", "register-9")
    pos = PosClient(output.splitlines()[-1])

    response = pos.post("/cards/resolve", {"card": member.card_number})

    assert response.status_code == 200, response.content
    assert response.json()["points_balance"] == 7


def test_create_terminal_stores_only_a_hash_of_the_key(store):
    output = _run("create_terminal", "--store", store.code, "--name", "register-9")
    api_key = output.splitlines()[-1]

    terminal = Terminal.objects.get(name="register-9")
    assert terminal.key_hash == hashlib.sha256(api_key.encode()).hexdigest()
    stored = [str(v) for v in Terminal.objects.values_list(flat=False).get(pk=terminal.pk)]
    assert api_key not in stored


def test_each_terminal_gets_a_different_key(store):
    first = _run("create_terminal", "--store", store.code, "--name", "a").splitlines()[-1]
    second = _run("create_terminal", "--store", store.code, "--name", "b").splitlines()[-1]

    assert first != second
    assert terminal_authenticate(first) != terminal_authenticate(second)


def test_create_terminal_for_unknown_store_fails_and_creates_nothing(db):
    with pytest.raises(CommandError) as exc_info:
        _run("create_terminal", "--store", "nowhere", "--name", "register-1")

    assert exc_info.value.returncode != 0
    assert Terminal.objects.count() == 0


def test_create_terminal_with_too_long_a_name_fails(store):
    with pytest.raises(CommandError):
        _run("create_terminal", "--store", store.code, "--name", "x" * 65)

    assert Terminal.objects.count() == 0


@pytest.mark.parametrize("missing", ["--store", "--name"])
def test_create_terminal_requires_store_and_name(store, missing):
    args = {"--store": store.code, "--name": "register-1"}
    del args[missing]

    with pytest.raises(CommandError):
        _run("create_terminal", *[part for pair in args.items() for part in pair])

    assert Terminal.objects.count() == 0


def test_revoked_terminal_key_no_longer_authenticates(store):
    api_key = _run("create_terminal", "--store", store.code, "--name", "r").splitlines()[-1]
    terminal_revoke(terminal=Terminal.objects.get(name="r"))

    assert terminal_authenticate(api_key) is None
    response = PosClient(api_key).post("/cards/resolve", {"card": "12345678"})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
