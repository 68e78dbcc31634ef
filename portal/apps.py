from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PortalConfig(AppConfig):
    name = "portal"

    def ready(self) -> None:
        from portal.receivers import sync_schedules_after_migrate

        # The portal has no models, so it gets no post_migrate of its own: follow the task
        # engine's, which comes once its schedule table exists.
        post_migrate.connect(sync_schedules_after_migrate, dispatch_uid="portal-sync-schedules")
