from django.apps import AppConfig


class MediaConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "media"
    verbose_name = "Media from bridges"

    def ready(self) -> None:
        from customers import panels
        from dealers import dashboard
        from media import receivers, selectors

        # Deletes a row's file when the row goes (however it goes).
        assert receivers.media_item_file_delete

        dashboard.register(
            dashboard.Panel(
                name="bridges",
                template="media/_dashboard.html",
                context=selectors.dashboard_bridges,
                order=30,
            )
        )
        panels.register(
            panels.SitePanel(
                name="media",
                template="media/_customer_panel.html",
                context=selectors.customer_panel,
                order=10,
            )
        )
