from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"

    def ready(self) -> None:
        # Invitations to work at a station (stations.StationInvitation) are accepted on the one
        # accept page of dealers.invitations; where the new member lands is this app's page,
        # so the kind is registered here, above both.
        from django.urls import reverse

        from dealers import invitations
        from stations.models import StationInvitation, StationMembership
        from stations.services import staff_add

        def next_url(request, invitation) -> str:
            if invitation.role == StationMembership.Role.STATION_ADMIN:
                return reverse("monitoring:console", args=[invitation.station.code])
            return reverse("monitoring:home")

        invitations.register(
            invitations.InvitationKind(
                model=StationInvitation,
                grant=lambda invitation, user, actor: staff_add(
                    station=invitation.station, user=user, role=invitation.role, actor=actor
                ),
                is_member=lambda invitation, user: StationMembership.objects.filter(
                    station_id=invitation.station_id, user=user
                ).exists(),
                next_url=next_url,
            )
        )
