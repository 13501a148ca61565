"""Time ``import_members`` on a generated CSV against the configured DATABASE_URL.

    DEBUG=1 DATABASE_URL=sqlite:////tmp/imp.sqlite3 .venv/bin/python manage.py migrate
    DEBUG=1 DATABASE_URL=sqlite:////tmp/imp.sqlite3 .venv/bin/python bench/bench_import.py

Three runs over the same card numbers: a first import (all created), the same file again
(all unchanged) and a file with every name changed (all updated). Card numbers start with
a random prefix so that repeated benchmarks against one database still create members.
"""

import argparse
import io
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

HEADER = "card_number,name,name_kana,birth_date,gender,prefecture,phone,email,joined_on\n"
GENDERS = ("female", "male", "女性", "男", "", "未回答")


def csv_write(path: Path, *, rows: int, prefix: str, name_suffix: str) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        file.write(HEADER)
        for i in range(rows):
            file.write(
                f"{prefix}{i:09d},会員 {i}{name_suffix},カイイン,"
                f"19{50 + i % 50}/{i % 12 + 1}/{i % 28 + 1},{GENDERS[i % len(GENDERS)]},"
                f"{i % 47 + 1},090-{i % 10000:04d}-{i % 9999:04d},member{i}@example.com,"
                f"{2000 + i % 20}-04-01\r\n"
            )


def import_time(path: Path) -> tuple[float, str]:
    from django.core.management import call_command

    stdout = io.StringIO()
    started = time.perf_counter()
    call_command("import_members", str(path), stdout=stdout, stderr=sys.stderr)
    return time.perf_counter() - started, stdout.getvalue().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    arguments = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings

    django.setup()
    print(f"database: {settings.DATABASES['default']['ENGINE']}, rows: {arguments.rows:,}")

    # 16 digits: "8", a 6-digit run id, a 9-digit sequence.
    prefix = "8" + "".join(secrets.choice("0123456789") for _ in range(6))
    with tempfile.TemporaryDirectory() as directory:
        first = Path(directory) / "members.csv"
        renamed = Path(directory) / "members_renamed.csv"
        csv_write(first, rows=arguments.rows, prefix=prefix, name_suffix="")
        csv_write(renamed, rows=arguments.rows, prefix=prefix, name_suffix=" 改")
        for label, path in (("create", first), ("unchanged", first), ("update", renamed)):
            elapsed, summary = import_time(path)
            print(
                f"{label:>9}: {elapsed:6.2f} s, {arguments.rows / elapsed:9,.0f} rows/s ({summary})"
            )


if __name__ == "__main__":
    main()
