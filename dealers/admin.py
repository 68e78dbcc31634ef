from django.contrib import admin
from django.db.models import Count
from simple_history.admin import SimpleHistoryAdmin

from dealers.models import Dealer, DealerInvitation, Membership, SignInEvent


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Dealer)
class DealerAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "member_count", "created_at"]
    list_filter = ["is_active", "created_at"]
    search_fields = ["name", "code", "memberships__user__username", "memberships__user__email"]
    readonly_fields = ["code", "created_at"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, obj: Dealer) -> int:
        return obj._member_count


@admin.register(Membership)
class MembershipAdmin(SimpleHistoryAdmin):
    list_display = ["user", "dealer", "role", "created_at"]
    list_filter = ["role", "dealer"]
    search_fields = ["user__username", "user__email", "dealer__name"]
    autocomplete_fields = ["user", "dealer"]
    list_select_related = ["user", "dealer"]
    readonly_fields = ["code", "created_at"]


@admin.register(DealerInvitation)
class DealerInvitationAdmin(admin.ModelAdmin):
    """Invitations are sent and withdrawn on the team page; the admin shows them."""

    list_display = ["email", "dealer", "role", "state", "invited_by", "created_at", "expires_at"]
    list_filter = ["role", "dealer"]
    search_fields = ["email", "dealer__name"]
    list_select_related = ["dealer", "invited_by"]
    fields = readonly_fields = [
        "code",
        "dealer",
        "email",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
        "revoked_by",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="state")
    def state(self, obj: DealerInvitation) -> str:
        return obj.get_state_display()


@admin.register(SignInEvent)
class SignInEventAdmin(admin.ModelAdmin):
    """Staff see every sign-in event; nobody edits them."""

    list_display = ["created_at", "kind", "username", "user", "ip_address"]
    list_filter = ["kind", "created_at"]
    search_fields = ["username", "ip_address"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "kind", "username", "user", "ip_address", "user_agent"]
    list_select_related = ["user"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
