"""``import_members``: migrating plastic-card members from the previous system's CSV."""

import datetime
import io
import os
import sqlite3
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command

from membership.errors import MemberImportEncodingInvalid, MemberImportHeaderInvalid
from membership.models import Gender, Member, MemberStatus, Tier
from membership.services.member_import import members_import

HEADER = "card_number,name,name_kana,birth_date,gender,prefecture,phone,email,joined_on"
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")


def _csv_file(tmp_path: Path, text: str, *, encoding: str = "utf-8", name="members.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _command_run(path: Path) -> tuple[int, str, str]:
    """Run the command in-process; return (exit code, stdout, stderr)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("import_members", str(path), stdout=stdout, stderr=stderr)
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:
        code = 0
    return code, stdout.getvalue(), stderr.getvalue()


def _service_run(text: str, **kwargs):
    return members_import(file=io.BytesIO(text.encode("utf-8")), **kwargs)


def _rejected_lines(report) -> list[int]:
    return [line for line, _reason in report.rejections]


@pytest.mark.django_db
def test_import_creates_members_from_utf8_file_without_bom(tmp_path):
    path = _csv_file(
        tmp_path,
        f"{HEADER}\n"
        "00012345,山田 花子,ヤマダ ハナコ,1990-01-05,女性,東京都,090-1234-5678,"
        "hanako@example.com,2015-04-01\n"
        "00012346,佐藤 一郎,サトウ イチロウ,1985/12/31,male,大阪府,,,2016/5/1\n",
    )

    code, stdout, stderr = _command_run(path)

    assert code == 0
    assert stderr == ""
    assert "created 2, updated 0, unchanged 0, rejected 0" in stdout
    hanako = Member.objects.get(card_number="00012345")
    assert hanako.name == "山田 花子"
    assert hanako.name_kana == "ヤマダ ハナコ"
    assert hanako.birth_date == datetime.date(1990, 1, 5)
    assert hanako.gender == Gender.FEMALE
    assert hanako.prefecture == "東京都"
    assert hanako.phone == "090-1234-5678"
    assert hanako.email == "hanako@example.com"
    assert hanako.joined_on == datetime.date(2015, 4, 1)
    assert hanako.points_balance == 0
    assert hanako.status == MemberStatus.ACTIVE
    assert Member.objects.get(card_number="00012346").joined_on == datetime.date(2016, 5, 1)


@pytest.mark.django_db
def test_import_accepts_utf8_file_with_bom_and_crlf(tmp_path):
    path = _csv_file(
        tmp_path, "\ufeffcard_number,birth_date,name\r\n1234,1990-01-01,山田\r\n", encoding="utf-8"
    )

    code, _stdout, _stderr = _command_run(path)

    assert code == 0
    assert Member.objects.get(card_number="1234").name == "山田"


@pytest.mark.django_db
def test_import_rejects_shift_jis_file_and_writes_nothing(tmp_path):
    path = _csv_file(
        tmp_path, "card_number,name,birth_date\n1234,山田 太郎,1990-01-01\n", encoding="shift_jis"
    )

    with pytest.raises(CommandError):
        call_command("import_members", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_import_writes_nothing_when_undecodable_bytes_come_after_many_valid_rows():
    content = b"card_number,birth_date,name\n"
    content += "".join(f"{10000 + i},1990-01-01,\n" for i in range(50)).encode()
    content += "9999,1990-01-01,山田\n".encode("shift_jis")  # line 52

    with pytest.raises(MemberImportEncodingInvalid) as exc_info:
        members_import(file=io.BytesIO(content), chunk_size=10)

    assert exc_info.value.extra["line"] == 52
    assert Member.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header", ["name,birth_date", "card_number,name", "card_number,name,BIRTHDAY"]
)
def test_import_fails_when_a_required_column_is_missing(tmp_path, header):
    path = _csv_file(tmp_path, f"{header}\n1234,1990-01-01\n")

    with pytest.raises(CommandError):
        call_command("import_members", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_import_fails_on_unknown_columns_and_names_them(tmp_path):
    text = "card_number,birth_date,emial,rank\n1234,1990-01-01,a@example.com,gold\n"

    with pytest.raises(MemberImportHeaderInvalid) as exc_info:
        _service_run(text)
    with pytest.raises(CommandError) as command_exc_info:
        call_command(
            "import_members",
            str(_csv_file(tmp_path, text)),
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )

    assert exc_info.value.extra["unknown"] == ["emial", "rank"]
    assert "emial" in str(command_exc_info.value)
    assert "rank" in str(command_exc_info.value)
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_import_reports_rejected_rows_with_physical_line_numbers(tmp_path):
    path = _csv_file(
        tmp_path,
        "card_number,name,birth_date,email\n"  # line 1
        '1001,"複数行の\n氏名",1990-01-01,\n'  # lines 2-3: a quoted newline
        "1002,,1990-13-01,\n"  # line 4: no 13th month
        "\n"  # line 5: blank, skipped
        "1003,,1990-01-01,not-an-email\n"  # line 6
        '1004,"also\n\nthree lines",1990-02-30,\n'  # lines 7-9: reported at its start
        "12,,1990-01-01,\n",  # line 10: card number too short
    )

    code, stdout, stderr = _command_run(path)

    assert code == 2
    assert "line 4:" in stderr
    assert "line 6:" in stderr
    assert "line 7:" in stderr
    assert "line 10:" in stderr
    assert "line 2:" not in stderr
    assert "created 1, updated 0, unchanged 0, rejected 4" in stdout
    assert Member.objects.get().name == "複数行の\n氏名"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "row",
    [
        "1234,,,,,,,,",  # birth_date blank
        ",,,1990-01-01,,,,,",  # card_number blank
        "12a4,,,1990-01-01,,,,,",
        "1234,,,2999-01-01,,,,,",  # future
        "1234,,,1899-12-31,,,,,",
        "1234,,,1990.01.01,,,,,",
        "1234,,,1990/02/30,,,,,",
        "1234,,,1990-1/5,,,,,",
        "1234,,,1990-01-01,woman,,,,",
        "1234,,,1990-01-01,,東京府,,,",
        "1234,,,1990-01-01,,48,,,",
        "1234,,,1990-01-01,,0,,,",
        "1234,,,1990-01-01,,,03-1234-abcd,,",
        "1234,,,1990-01-01,,,090+1234,,",
        "1234,,,1990-01-01,,,,a@b@example.com,",
        "1234,,,1990-01-01,,,,,2999-01-01",
        f"1234,{'あ' * 129},,1990-01-01,,,,,",
        f"1234,,{'ア' * 129},1990-01-01,,,,,",
        "1234,,,1990-01-01,,,,",  # one cell short
        "1234,,,1990-01-01,,,,,,",  # one cell too many
    ],
)
def test_import_rejects_invalid_row(row):
    report = _service_run(f"{HEADER}\n{row}\n")

    assert _rejected_lines(report) == [2]
    assert Member.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cell", "gender"),
    [
        ("female", Gender.FEMALE),
        ("F", Gender.FEMALE),
        ("女", Gender.FEMALE),
        ("女性", Gender.FEMALE),
        ("Male", Gender.MALE),
        ("m", Gender.MALE),
        ("男", Gender.MALE),
        ("男性", Gender.MALE),
        ("OTHER", Gender.OTHER),
        ("その他", Gender.OTHER),
        ("", Gender.UNKNOWN),
        ("unknown", Gender.UNKNOWN),
        ("未回答", Gender.UNKNOWN),
    ],
)
def test_import_accepts_gender_spellings(cell, gender):
    report = _service_run(f"card_number,birth_date,gender\n1234,1990-01-01, {cell} \n")

    assert report.rejections == []
    assert Member.objects.get().gender == gender


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("cell", "prefecture"),
    [
        ("東京都", "東京都"),
        ("東京", "東京都"),
        ("北海道", "北海道"),
        ("大阪", "大阪府"),
        ("京都", "京都府"),
        ("神奈川", "神奈川県"),
        ("13", "東京都"),
        ("01", "北海道"),
        ("1", "北海道"),
        ("47", "沖縄県"),
        ("", ""),
    ],
)
def test_import_accepts_prefecture_names_short_names_and_jis_codes(cell, prefecture):
    report = _service_run(f"card_number,birth_date,prefecture\n1234,1990-01-01,{cell}\n")

    assert report.rejections == []
    assert Member.objects.get().prefecture == prefecture


@pytest.mark.django_db
def test_import_strips_whitespace_and_keeps_phone_as_given():
    report = _service_run(
        "card_number,name,birth_date,phone,email\n"
        " １２３４ ５６７８ ,\u3000山田 太郎 , 1990/1/5 , +81 (3)1234-5678 , a@example.com \n"
        "1111,,1990-01-01,(03)1234-5678,\n"
    )

    assert _rejected_lines(report) == [2]  # a space inside the phone number
    report = _service_run(
        "card_number,name,birth_date,phone,email\n"
        " １２３４ ５６７８ ,\u3000山田 太郎 , 1990/1/5 , +81(3)1234-5678 , a@example.com \n"
    )
    assert report.rejections == []
    member = Member.objects.get(card_number="12345678")
    assert member.name == "山田 太郎"
    assert member.birth_date == datetime.date(1990, 1, 5)
    assert member.phone == "+81(3)1234-5678"
    assert member.email == "a@example.com"
    assert Member.objects.get(card_number="1111").phone == "(03)1234-5678"


@pytest.mark.django_db
def test_import_defaults_joined_on_to_today_for_new_members():
    with time_machine.travel(datetime.datetime(2025, 4, 1, 0, 30, tzinfo=TOKYO), tick=False):
        _service_run("card_number,birth_date,joined_on\n1234,1990-01-01,\n")

    # 00:30 in Tokyo is still March 31 in UTC; the shop's local date is what counts.
    assert Member.objects.get().joined_on == datetime.date(2025, 4, 1)


@pytest.mark.django_db
def test_import_skips_rows_with_no_values():
    report = _service_run("card_number,birth_date,name\n1234,1990-01-01,\n,,\n  , ,\n\n")

    assert report.rejections == []
    assert report.created == 1


@pytest.mark.django_db
def test_rerun_updates_members_in_place_without_duplicating(tmp_path):
    first = _csv_file(
        tmp_path,
        f"{HEADER}\n"
        "1001,山田,ヤマダ,1990-01-01,女性,東京,03-1111-1111,a@example.com,2010-01-01\n"
        "1002,佐藤,サトウ,1980-01-01,男性,大阪,,,2011-01-01\n",
        name="first.csv",
    )
    second = _csv_file(
        tmp_path,
        f"{HEADER}\n"
        "1001,山田,ヤマダ,1990-01-01,女性,東京,03-1111-1111,a@example.com,2010-01-01\n"
        "1002,佐藤 次郎,サトウ,1980-01-01,男性,大阪,,,2011-01-01\n"
        "1003,鈴木,,1970-01-01,,,,,2012-01-01\n",
        name="second.csv",
    )
    assert _command_run(first)[0] == 0
    first_ids = dict(Member.objects.values_list("card_number", "id"))

    code, stdout, _stderr = _command_run(second)
    code_again, stdout_again, _stderr = _command_run(second)

    assert code == 0
    assert "created 1, updated 1, unchanged 1, rejected 0" in stdout
    assert code_again == 0
    assert "created 0, updated 0, unchanged 3, rejected 0" in stdout_again
    assert Member.objects.count() == 3
    assert Member.objects.get(card_number="1002").id == first_ids["1002"]
    assert Member.objects.get(card_number="1002").name == "佐藤 次郎"


@pytest.mark.django_db
def test_rerun_keeps_existing_values_for_blank_cells():
    _service_run(
        f"{HEADER}\n1001,山田,ヤマダ,1990-01-01,女性,東京,03-1111-1111,a@example.com,2010-01-01\n"
    )

    updated_before = Member.objects.get().updated_at

    report = _service_run(f"{HEADER}\n1001,,,1990-02-02,,,,,\n")

    assert report.updated == 1
    member = Member.objects.get(card_number="1001")
    assert member.updated_at > updated_before
    assert member.birth_date == datetime.date(1990, 2, 2)
    assert member.name == "山田"
    assert member.name_kana == "ヤマダ"
    assert member.gender == Gender.FEMALE
    assert member.prefecture == "東京都"
    assert member.phone == "03-1111-1111"
    assert member.email == "a@example.com"
    assert member.joined_on == datetime.date(2010, 1, 1)


@pytest.mark.django_db
def test_rerun_clears_gender_only_when_explicitly_unknown():
    _service_run("card_number,birth_date,gender\n1001,1990-01-01,女性\n")

    _service_run("card_number,birth_date,gender\n1001,1990-01-01,未回答\n")

    assert Member.objects.get().gender == Gender.UNKNOWN


@pytest.mark.django_db
def test_import_never_touches_points_balance_tier_or_status():
    tier = Tier.objects.create(code="gold", name="ゴールド", min_spend_12m=100_000)
    _service_run("card_number,birth_date,name\n1001,1990-01-01,山田\n")
    Member.objects.filter(card_number="1001").update(points_balance=500, tier=tier)

    report = _service_run("card_number,birth_date,name\n1001,1990-01-01,山田 太郎\n")

    assert report.updated == 1
    member = Member.objects.get(card_number="1001")
    assert member.name == "山田 太郎"
    assert member.points_balance == 500
    assert member.tier == tier
    assert member.status == MemberStatus.ACTIVE


@pytest.mark.django_db
def test_import_refuses_rows_of_withdrawn_members_and_keeps_their_data_erased():
    _service_run("card_number,birth_date,name\n1001,1990-01-01,山田\n2002,1991-02-02,佐藤\n")
    Member.objects.filter(card_number="1001").update(name="", status=MemberStatus.WITHDRAWN)

    report = _service_run(
        "card_number,birth_date,name\n1001,1990-01-01,山田 太郎\n2002,1991-02-02,佐藤 花子\n"
    )

    assert report.rejections == [(2, "退会済みの会員のため更新しません")]
    assert (report.updated, report.unchanged) == (1, 0)
    assert Member.objects.get(card_number="1001").name == ""
    assert Member.objects.get(card_number="2002").name == "佐藤 花子"


@pytest.mark.django_db
def test_import_rejects_later_row_with_duplicate_card_number_naming_earlier_line():
    report = _service_run(
        "card_number,birth_date,name\n"
        "5000,1990-01-01,a\n"
        "7777,1990-01-01,first\n"  # line 3
        "6000,1990-01-01,b\n"
        "8000,1990-01-01,c\n"
        "77-77,1980-01-01,second\n"  # line 6: same card once normalised
    )

    assert _rejected_lines(report) == [6]
    assert "3" in report.rejections[0][1]
    assert Member.objects.get(card_number="7777").name == "first"
    assert report.created == 4


@pytest.mark.django_db
def test_import_rejects_duplicate_card_number_even_when_first_row_was_invalid():
    report = _service_run(
        "card_number,birth_date,name\n"
        "7777,1990-02-30,first\n"  # line 2: no such date
        "7777,1990-01-01,second\n"  # line 3
    )

    assert _rejected_lines(report) == [2, 3]
    assert Member.objects.count() == 0


@pytest.mark.django_db
def test_import_rejects_duplicate_card_number_across_chunks():
    rows = "".join(f"{1000 + i},1990-01-01\n" for i in range(10))
    report = _service_run(f"card_number,birth_date\n{rows}1000,1990-01-01\n", chunk_size=3)

    assert _rejected_lines(report) == [12]
    assert Member.objects.count() == 10


@pytest.mark.django_db
def test_import_reports_progress_after_each_chunk():
    rows = "".join(f"{1000 + i},1990-01-01\n" for i in range(5))
    seen: list[tuple[int, int]] = []

    _service_run(
        f"card_number,birth_date\n{rows}",
        chunk_size=2,
        on_progress=lambda report: seen.append((report.rows_read, report.rows_total)),
    )

    assert seen == [(2, 5), (4, 5), (5, 5)]


@pytest.mark.django_db
def test_import_of_10000_rows_creates_them_all(tmp_path):
    rows = "".join(
        f"{20_000_000 + i},会員{i},カイイン,1980/{i % 12 + 1}/{i % 28 + 1},"
        f"{('female', 'male', '')[i % 3]},{i % 47 + 1},090-0000-{i % 10000:04d},"
        f"m{i}@example.com,2020-01-01\n"
        for i in range(10_000)
    )
    path = _csv_file(tmp_path, f"{HEADER}\n{rows}")

    code, stdout, stderr = _command_run(path)

    assert code == 0
    assert "created 10000, updated 0, unchanged 0, rejected 0" in stdout
    assert "10,000" in stderr  # progress
    assert Member.objects.count() == 10_000


# --- Through a real process, for the exit codes -------------------------------------


@pytest.fixture(scope="module")
def process_database(tmp_path_factory) -> Path:
    """A migrated SQLite file of its own: a child process cannot see the test database."""
    path = tmp_path_factory.mktemp("import_members") / "db.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity=0"],
        cwd=settings.BASE_DIR,
        env=_process_env(path),
        check=True,
    )
    return path


def _process_env(database: Path) -> dict[str, str]:
    return {**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{database}"}


def _process_run(database: Path, csv_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "import_members", str(csv_path)],
        cwd=settings.BASE_DIR,
        env=_process_env(database),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _process_member_count(database: Path, card_numbers: list[str]) -> int:
    with sqlite3.connect(database) as connection:
        placeholders = ",".join("?" * len(card_numbers))
        (count,) = connection.execute(
            f"SELECT COUNT(*) FROM membership_member WHERE card_number IN ({placeholders})",
            card_numbers,
        ).fetchone()
    return count


def test_command_process_exits_0_when_every_row_is_imported(process_database, tmp_path):
    path = _csv_file(tmp_path, "card_number,birth_date\n310001,1990-01-01\n310002,1990-01-02\n")

    result = _process_run(process_database, path)

    assert result.returncode == 0, result.stderr
    assert "created 2, updated 0, unchanged 0, rejected 0" in result.stdout
    assert _process_member_count(process_database, ["310001", "310002"]) == 2


def test_command_process_exits_2_and_imports_valid_rows_when_some_are_rejected(
    process_database, tmp_path
):
    path = _csv_file(
        tmp_path,
        "card_number,birth_date\n320001,1990-01-01\n320002,1990-99-01\n320003,1990-01-03\n",
    )

    result = _process_run(process_database, path)

    assert result.returncode == 2
    assert "line 3:" in result.stderr
    assert "created 2, updated 0, unchanged 0, rejected 1" in result.stdout
    assert _process_member_count(process_database, ["320001", "320002", "320003"]) == 2


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("card_number,name,birth_date\n330001,山田,1990-01-01\n", "shift_jis"),
        ("card_number,birth_date,note\n330001,1990-01-01,x\n", "utf-8"),
        ("card_number,name\n330001,山田\n", "utf-8"),
    ],
    ids=["shift_jis", "unknown_column", "missing_birth_date"],
)
def test_command_process_exits_non_zero_and_writes_nothing_for_unusable_file(
    process_database, tmp_path, text, encoding
):
    path = _csv_file(tmp_path, text, encoding=encoding)

    result = _process_run(process_database, path)

    assert result.returncode not in (0, 2)
    assert result.stderr.strip()
    assert _process_member_count(process_database, ["330001"]) == 0
