import argparse
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from membership.errors import MemberImportFileInvalid
from membership.services.member_import import KNOWN_COLUMNS, ImportReport, members_import

PROGRESS_EVERY_ROWS = 10_000
EXIT_ROWS_REJECTED = 2


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keep the line breaks of the description below."""


class Command(BaseCommand):
    help = f"""旧システム(プラスチックカード)の会員をCSVから取り込みます。

列: {",".join(KNOWN_COLUMNS)}
  card_number と birth_date は必須(列・値とも)。他の列は省略できます。
  知らない列名があるときは何も取り込まずに終了します。
  文字コードは UTF-8(BOM あり・なし)。Shift_JIS などは UTF-8 で保存し直してください。
  日付: YYYY-MM-DD または YYYY/MM/DD (1990/1/5 も可)。
  gender: female/f/女/女性, male/m/男/男性, other/その他, unknown/未回答(=未回答にする)。
  prefecture: 都道府県名、「都/府/県」を省いた名前(東京)、JISコード(13, 01)。
  joined_on: 空欄なら新規会員は今日の日付。

何度実行しても会員は増えません。会員番号が同じ会員は上書きされます。
  既存会員の更新では、空欄のセルは登録済みの値をそのまま残します。
  ポイント残高・会員ランク・状態(退会など)は変更しません。

誤りのある行は取り込まず「line N: 理由」を標準エラーに出し、正しい行は取り込みます。
最後に標準出力へ「created X, updated Y, unchanged Z, rejected W」を出します。

終了コード:
  0  すべての行を取り込んだ
  1  ファイル全体を読めなかった(文字コード・ヘッダーなど)。何も取り込んでいない
  2  一部の行に誤りがあった(その行以外は取り込み済み)
"""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> Any:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", help="取り込むCSVファイルのパス")

    def handle(self, *args: Any, **options: Any) -> None:
        progress_printed = 0

        def progress_print(report: ImportReport) -> None:
            nonlocal progress_printed
            if report.rows_read // PROGRESS_EVERY_ROWS > progress_printed:
                progress_printed = report.rows_read // PROGRESS_EVERY_ROWS
                self.stderr.write(
                    f"{report.rows_read:,}/{report.rows_total:,}行 処理済み",
                    style_func=lambda message: message,
                )

        try:
            file = open(options["file"], "rb")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"ファイルを開けません: {exc}") from exc
        with file:
            try:
                report = members_import(file=file, on_progress=progress_print)
            except MemberImportFileInvalid as exc:
                raise CommandError(exc.message) from exc

        for line, reason in report.rejections:
            self.stderr.write(f"line {line}: {reason}")
        self.stdout.write(
            f"created {report.created}, updated {report.updated}, "
            f"unchanged {report.unchanged}, rejected {report.rejected}"
        )
        if report.rejections:
            sys.exit(EXIT_ROWS_REJECTED)
