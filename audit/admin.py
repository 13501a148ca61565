from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from audit.models import AuditAction, AuditEntry, LoginFailure
from audit.services import audit_record, audit_snapshot
from common.admin import ReadOnlyAdmin


class AuditedAdminMixin(admin.ModelAdmin):
    """Record every add, change (form or list_editable) and delete made in the admin.

    The "after" snapshot is taken in ``save_related`` so many-to-many edits (a campaign's
    stores) are in it; the whole admin request runs in one transaction, so entry and change
    commit together.
    """

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = None
        if change and obj.pk is not None:
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = audit_snapshot(stored) if stored is not None else None
        request._audit_before = before  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before = getattr(request, "_audit_before", None)
        after = audit_snapshot(obj)
        if change and before == after:
            return
        audit_record(
            actor=request.user,
            action=AuditAction.UPDATE if change else AuditAction.CREATE,
            target=obj,
            before=before,
            after=after,
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit_record(
                actor=request.user,
                action=AuditAction.DELETE,
                target=obj,
                before=audit_snapshot(obj),
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        with transaction.atomic():
            for obj in queryset:
                audit_record(
                    actor=request.user,
                    action=AuditAction.DELETE,
                    target=obj,
                    before=audit_snapshot(obj),
                )
            super().delete_queryset(request, queryset)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "actor_username", "action", "target_type", "target_repr"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_username", "target_repr", "target_id", "reason"]
    show_full_result_count = False


@admin.register(LoginFailure)
class LoginFailureAdmin(ReadOnlyAdmin):
    list_display = ["attempted_at", "username", "ip"]
    search_fields = ["username", "ip"]
    show_full_result_count = False
