"""Writing segments: create and edit, audited in the same transaction."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction

from audit.models import AuditAction
from audit.services import audit_record, audit_snapshot
from broadcasts.models import Segment
from broadcasts.selectors import SCALAR_CRITERIA, SegmentCriteria


def segment_save(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    segment: Segment | None = None,
    name: str,
    description: str = "",
    criteria: SegmentCriteria,
) -> Segment:
    """Create a segment (``segment`` None) or replace an existing one's name and criteria.

    Locks the row while editing so two HQ admins' saves are recorded one after the other.
    """
    with transaction.atomic():
        if segment is None:
            before = None
            segment = Segment()
            if actor is not None and actor.is_authenticated:
                segment.created_by_id = actor.pk
        else:
            segment = Segment.objects.select_for_update().get(pk=segment.pk)
            before = audit_snapshot(segment)
        segment.name = name
        segment.description = description
        segment.genders = list(criteria.genders)
        segment.prefectures = list(criteria.prefectures)
        segment.categories = list(criteria.categories)
        for field in SCALAR_CRITERIA:
            setattr(segment, field, getattr(criteria, field))
        segment.full_clean()
        segment.save()
        segment.tiers.set(criteria.tier_ids)
        segment.stores.set(criteria.store_ids)
        audit_record(
            actor=actor,
            action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
            target=segment,
            before=before,
            after=audit_snapshot(segment),
        )
    return segment
