"""Settings for the test suite: production settings with a test key and plain HTTP."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-any-deployment-0123456789")
os.environ.setdefault("DJANGO_SECURE", "false")

from portal.settings import *  # noqa: F403

# Hashing passwords with PBKDF2 dominates a suite that signs in hundreds of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_AUTOREFRESH = True  # serve from the finders; tests never run collectstatic
# Background tasks run inline, in the test's own transaction, where the test can see them.
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405
# Media files of the tests go to a throwaway folder, never to var/media.
# Every process that loads these settings (the suite, and the dispatchers and servers it
# starts) has its own, removed when that process exits (not when a child forked from it does).
if STORAGES["media"]["BACKEND"].endswith("FileSystemStorage"):  # noqa: F405
    import atexit
    import shutil
    import tempfile

    _media = tempfile.mkdtemp(prefix="portal-test-media-")
    STORAGES["media"]["OPTIONS"]["location"] = _media  # noqa: F405

    def _remove_media(path: str = _media, owner: int = os.getpid()) -> None:
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(_remove_media)
# The connection a deep link writes its opening on goes back after every write: a test database is
# dropped at the end of the run, which a connection still held would prevent.
OPENING_WRITER_IDLE_SECONDS = 0
