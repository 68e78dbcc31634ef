from django.apps import AppConfig


class MediaConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "media"
    verbose_name = "Media from bridges"

    def ready(self) -> None:
        from media import receivers  # noqa: F401  (deletes a row's file when the row goes)
