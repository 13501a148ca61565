import sys

from django.core.management.base import BaseCommand

from membership.selectors import ledger_problems


class Command(BaseCommand):
    help = (
        "Prove the point ledger adds up: every balance equals the sum of its entries and of "
        "its open lots, and every lot and debit agrees with its consumptions. Exits 1 and "
        "names each member that does not."
    )

    def handle(self, *args, **options):
        problems = list(ledger_problems())
        for p in problems:
            self.stderr.write(f"member {p.card_number} (id {p.member_id}): {p.problem}")
        if problems:
            members = len({p.member_id for p in problems})
            self.stderr.write(f"ledger check FAILED: {len(problems)} problems on {members} members")
            sys.exit(1)
        self.stdout.write("ledger check OK")
