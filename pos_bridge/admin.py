from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from audit.admin import AuditedAdminMixin
from audit.models import AuditAction
from audit.services import audit_record
from common.admin import ReadOnlyAdmin, ReadOnlyInline
from pos_bridge.models import Purchase, PurchaseItem, Refund, StaffMember, Store, Terminal
from pos_bridge.services.stores import terminal_create, terminal_revoke


@admin.register(Store)
class StoreAdmin(AuditedAdminMixin):
    list_display = ["code", "name", "prefecture", "active"]
    list_filter = ["active", "prefecture"]
    search_fields = ["code", "name"]


@admin.register(Terminal)
class TerminalAdmin(AuditedAdminMixin):
    list_display = ["__str__", "store", "kind", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["store", "kind"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return (
            ["store", "name"]
            if obj is None
            else ["store", "name", "key_prefix", "created_at", "last_used_at", "revoked_at"]
        )

    def get_readonly_fields(self, request, obj=None):
        return (
            []
            if obj is None
            else ["store", "key_prefix", "created_at", "last_used_at", "revoked_at"]
        )

    def save_model(self, request: HttpRequest, obj: Terminal, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = terminal_create(store_code=obj.store.code, name=obj.name)
        obj.pk = issued.terminal.pk
        messages.warning(
            request,
            _("APIキー(この画面でのみ表示されます。POSに設定してください): %(key)s")
            % {"key": issued.api_key},
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # purchases point at terminals; revoke instead

    @admin.action(description=_("選択した端末のAPIキーを無効化"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[Terminal]) -> None:
        for terminal in queryset:
            with transaction.atomic():
                terminal_revoke(terminal=terminal)
                audit_record(
                    actor=request.user, action=AuditAction.TERMINAL_REVOKE, target=terminal
                )
        self.message_user(request, _("%(n)d 台の端末を無効化しました。") % {"n": queryset.count()})


class PurchaseItemInline(ReadOnlyInline):
    model = PurchaseItem
    fields = ["sku", "name", "category", "quantity", "unit_price"]


class RefundInline(ReadOnlyInline):
    model = Refund
    fk_name = "purchase"
    fields = [
        "refund_receipt_number",
        "occurred_at",
        "amount",
        "points_reversed",
        "points_restored",
        "points_unrecovered",
    ]


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "store",
        "receipt_number",
        "total",
        "member",
        "points_earned",
        "points_redeemed",
        "refunded_amount",
    ]
    list_filter = ["store"]
    date_hierarchy = "occurred_at"
    search_fields = ["receipt_number", "member__card_number"]
    list_select_related = ["store", "member"]
    show_full_result_count = False
    inlines = [PurchaseItemInline, RefundInline]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "store",
        "refund_receipt_number",
        "purchase",
        "amount",
        "points_reversed",
        "points_restored",
        "points_unrecovered",
    ]
    list_filter = ["store"]
    list_select_related = ["store", "purchase", "purchase__store"]
    search_fields = ["refund_receipt_number", "purchase__receipt_number"]


@admin.register(StaffMember)
class StaffMemberAdmin(AuditedAdminMixin):
    """Which login may use which store's scanner. Create logins with `create_staff`."""

    list_display = ["user", "store", "role", "created_at"]
    list_filter = ["store", "role"]
    search_fields = ["user__username"]
    list_select_related = ["user", "store"]
    autocomplete_fields = ["user"]
