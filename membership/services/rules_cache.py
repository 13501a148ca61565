"""A short-lived, per-process copy of the earning rules every purchase reads: the point
program, the active campaigns with their stores, and the tiers.

Reading them from the database costs four ORM queries a member purchase (about 2 ms of
CPU, a fifth of the request), for rules HQ edits a few times a year. Freshness:

- saving or deleting a rule (admin, services, tests) drops this process's copy at once;
  other processes (gunicorn workers) reload within ``RULES_CACHE_SECONDS``;
- a transaction that changed a rule reads the database directly until it ends (the change
  is not committed yet and may be rolled back); once it has ended, committed or rolled
  back, the copy is dropped, so a rolled-back edit (a test's) is never served;
- ``migrate`` and ``flush`` (which send ``post_migrate``) drop it too.

The receivers are connected when this module is first imported; a process that has not
imported it holds no copy to drop. The objects handed out are shared between requests:
treat them as read-only (``point_program_get`` still returns a fresh, editable row).
"""

import datetime
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from django.db.transaction import Atomic

from membership.models import Campaign, PointProgram, Tier

RULES_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class CampaignRule:
    campaign: Campaign
    # Empty: every store.
    store_ids: frozenset[int]

    def applies(self, *, on: datetime.date, store_id: int) -> bool:
        campaign = self.campaign
        return campaign.starts_on <= on <= campaign.ends_on and (
            not self.store_ids or store_id in self.store_ids
        )


@dataclass(frozen=True)
class EarningRules:
    program: PointProgram
    # Active campaigns by id, whatever their dates (the purchase date picks among them).
    campaigns: tuple[CampaignRule, ...]
    # Highest threshold first.
    tiers: tuple[Tier, ...]

    def campaigns_on(self, *, on: datetime.date, store_id: int) -> list[Campaign]:
        return [rule.campaign for rule in self.campaigns if rule.applies(on=on, store_id=store_id)]

    def tier_for_spend(self, spend_12m: int) -> Tier | None:
        spend = max(spend_12m, 0)
        return next((tier for tier in self.tiers if tier.min_spend_12m <= spend), None)

    def tier_by_id(self, tier_id: int) -> Tier | None:
        return next((tier for tier in self.tiers if tier.pk == tier_id), None)


_lock = threading.Lock()
_cached: EarningRules | None = None
_loaded_at = 0.0
# Bumped on every drop: a load that started before a drop must not store what it read.
_generation = 0
# (connection, outermost atomic block) of transactions that changed a rule and may still
# be open: while one is, nobody uses or fills the copy.
_open_edits: list[tuple[BaseDatabaseWrapper, Atomic]] = []


def _load() -> EarningRules:
    # The defaults stand in for a missing row (what point_program_get would create): a
    # read path does not write.
    program = PointProgram.objects.filter(pk=1).first() or PointProgram(pk=1)
    campaigns = list(Campaign.objects.filter(active=True).order_by("id"))
    store_ids: dict[int, set[int]] = {campaign.pk: set() for campaign in campaigns}
    links = Campaign.stores.through.objects.filter(campaign_id__in=list(store_ids))
    for campaign_id, store_id in links.values_list("campaign_id", "store_id"):
        store_ids[campaign_id].add(store_id)
    return EarningRules(
        program=program,
        campaigns=tuple(CampaignRule(c, frozenset(store_ids[c.pk])) for c in campaigns),
        tiers=tuple(Tier.objects.order_by("-min_spend_12m", "id")),
    )


def _edit_still_open(edit: tuple[BaseDatabaseWrapper, Atomic]) -> bool:
    wrapper, outermost = edit
    return bool(wrapper.atomic_blocks) and wrapper.atomic_blocks[0] is outermost


def earning_rules() -> EarningRules:
    """The point program, active campaigns and tiers, at most ``RULES_CACHE_SECONDS`` old."""
    global _cached, _loaded_at
    if _open_edits:
        with _lock:
            still_open = [edit for edit in _open_edits if _edit_still_open(edit)]
            if len(still_open) != len(_open_edits):
                _open_edits[:] = still_open
                _drop_locked()
        if still_open:
            return _load()
    cached, now = _cached, time.monotonic()
    if cached is not None and now - _loaded_at < RULES_CACHE_SECONDS:
        return cached
    generation = _generation
    rules = _load()
    with _lock:
        if generation == _generation and not _open_edits:
            _cached, _loaded_at = rules, now
    return rules


def _drop_locked() -> None:
    global _cached, _generation
    _cached = None
    _generation += 1


def earning_rules_drop(**_signal: Any) -> None:
    """Forget this process's copy; inside a transaction, bypass it until that one ends."""
    # The connection itself, not the thread-local proxy: another thread checks it later.
    wrapper = transaction.get_connection()
    with _lock:
        _drop_locked()
        if wrapper.in_atomic_block:
            edit = (wrapper, wrapper.atomic_blocks[0])
            if not any(wrapper is edit[0] and block is edit[1] for wrapper, block in _open_edits):
                _open_edits.append(edit)


_RULE_MODELS: Sequence[type] = (PointProgram, Campaign, Tier)
for _model in _RULE_MODELS:
    post_save.connect(earning_rules_drop, sender=_model, dispatch_uid=f"rules_cache_{_model}")
    post_delete.connect(earning_rules_drop, sender=_model, dispatch_uid=f"rules_cache_d_{_model}")
m2m_changed.connect(
    earning_rules_drop, sender=Campaign.stores.through, dispatch_uid="rules_cache_stores"
)
post_migrate.connect(earning_rules_drop, dispatch_uid="rules_cache_migrate")
