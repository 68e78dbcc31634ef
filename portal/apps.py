from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class PortalConfig(AppConfig):
    name = "portal"

    def ready(self) -> None:
        from portal.receivers import sync_schedules_after_migrate
        from portal.timestamps import use_c_timestamp_loader

        # The portal has no models, so it gets no post_migrate of its own: follow the task
        # engine's, which comes once its schedule table exists.
        post_migrate.connect(sync_schedules_after_migrate, dispatch_uid="portal-sync-schedules")
        # Timestamps read by psycopg's C loader rather than parsed in Python (portal.timestamps).
        connection_created.connect(use_c_timestamp_loader, dispatch_uid="portal-c-timestamps")
