from django.apps import AppConfig


class DealersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dealers"

    def ready(self) -> None:
        from dealers import (
            dashboard,
            invitations,
            receivers,  # noqa: F401 - connects the sign-in audit
            selectors,
        )
        from dealers.models import DealerInvitation, Membership
        from dealers.services import member_add

        def next_url(request, invitation) -> str:
            from django.urls import reverse

            from dealers.access import SESSION_KEY

            request.session[SESSION_KEY] = str(invitation.dealer.code)  # work for it now
            return reverse("dealers:dashboard")

        invitations.register(
            invitations.InvitationKind(
                model=DealerInvitation,
                grant=lambda invitation, user, actor: member_add(
                    dealer=invitation.dealer, user=user, role=invitation.role, actor=actor
                ),
                is_member=lambda invitation, user: Membership.objects.filter(
                    dealer_id=invitation.dealer_id, user=user
                ).exists(),
                next_url=next_url,
            )
        )
        dashboard.register(
            dashboard.Panel(
                name="team",
                template="dealers/_dashboard_team.html",
                context=selectors.dashboard_team,
                order=80,
            )
        )
        dashboard.register(
            dashboard.Panel(
                name="changes",
                template="dealers/_dashboard_changes.html",
                context=selectors.dashboard_changes,
                order=90,
            )
        )
