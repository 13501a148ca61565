from django.contrib import admin

from audit.admin import AuditedAdminMixin
from common.admin import ReadOnlyAdmin, ReadOnlyInline
from membership.models import Campaign, Member, PointEntry, PointLot, PointProgram, Tier


class PointEntryInline(ReadOnlyInline):
    model = PointEntry
    fields = ["occurred_at", "kind", "delta", "balance_after", "reference", "reason", "actor"]
    ordering = ["-id"]
    max_num = 0


class PointLotInline(ReadOnlyInline):
    model = PointLot
    fields = ["expires_on", "points", "remaining"]
    ordering = ["expires_on"]
    max_num = 0


@admin.register(Member)
class MemberAdmin(ReadOnlyAdmin):
    list_display = ["card_number", "name", "tier", "points_balance", "status", "joined_on"]
    list_filter = ["status", "tier", "gender", "prefecture"]
    search_fields = ["card_number", "name", "name_kana", "phone", "email"]
    list_select_related = ["tier"]
    show_full_result_count = False
    inlines = [PointLotInline, PointEntryInline]


@admin.register(PointEntry)
class PointEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "occurred_at",
        "member",
        "kind",
        "delta",
        "balance_after",
        "reference",
        "actor",
        "reason",
    ]
    list_filter = ["kind"]
    search_fields = ["member__card_number", "reference", "actor"]
    list_select_related = ["member"]
    show_full_result_count = False


@admin.register(Tier)
class TierAdmin(AuditedAdminMixin):
    list_display = ["name", "code", "min_spend_12m", "earn_rate_percent"]


@admin.register(PointProgram)
class PointProgramAdmin(AuditedAdminMixin):
    list_display = ["__str__", "yen_per_point", "points_valid_days", "updated_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        # One shop-wide row; it is created on first use.
        return not PointProgram.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(AuditedAdminMixin):
    list_display = ["name", "starts_on", "ends_on", "multiplier_percent", "bonus_points", "active"]
    list_filter = ["active"]
    filter_horizontal = ["stores"]
