"""Django's database cache, with an increment that concurrent processes cannot interleave.

The device API's limits count requests in a cache shared by every gunicorn worker on every
machine (portal/settings.py, CACHES["limits"]). Redis counts atomically by itself; Django's
database cache reads, adds and writes back, so two workers counting at once could both write
the same number and let requests through uncounted. This backend does the read and the write
in one transaction that holds the key's row (on SQLite, the IMMEDIATE transaction holds the
whole database), so each increment sees the one before it.
"""

from __future__ import annotations

from django.core.cache.backends.db import DatabaseCache as DjangoDatabaseCache
from django.db import connections, router, transaction


class DatabaseCache(DjangoDatabaseCache):
    def incr(self, key, delta=1, version=None):
        made = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        with transaction.atomic(using=db):
            if connection.features.has_select_for_update:
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT 1 FROM {quote(self._table)} WHERE {quote('cache_key')} = %s "
                        "FOR UPDATE",
                        [made],
                    )
            value = self.get(key, version=version)
            if value is None:
                raise ValueError(f"Key '{key}' not found")
            value += delta
            self.set(key, value, version=version)
        return value
