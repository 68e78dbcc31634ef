"""Migration operations the portal's live tables need.

A partial unique constraint is a unique index on PostgreSQL, and Django builds it with a plain
``CREATE UNIQUE INDEX``, which holds a lock that stops every insert into the table while the
index is built: on the alarm events' table, bridges' alarms would wait through a deploy.
``replace_unique_concurrently`` builds the new one ``CONCURRENTLY`` (inserts go on meanwhile),
then drops the old one the same way; elsewhere (SQLite) it adds and removes them as usual. A
migration using it must say ``atomic = False``: PostgreSQL builds an index concurrently only
outside a transaction.
"""

from __future__ import annotations

from django.db import migrations
from django.db.models import UniqueConstraint


def replace_unique_concurrently(
    app_label: str, model_name: str, *, add: UniqueConstraint, remove: UniqueConstraint
) -> migrations.SeparateDatabaseAndState:
    """``remove`` gives way to ``add`` on the model; the new rule is in place first, so the
    rows are never unguarded in between (and the other way round, migrating back)."""

    def swap(apps, schema_editor, new: UniqueConstraint, old: UniqueConstraint) -> None:
        model = apps.get_model(app_label, model_name)
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.add_constraint(model, new)
            schema_editor.remove_constraint(model, old)
            return
        quote = schema_editor.quote_name
        sql = str(new.create_sql(model, schema_editor))
        if not sql.startswith("CREATE UNIQUE INDEX "):
            raise ValueError(f"not a partial unique index: {sql}")
        # A build that failed half-way leaves an invalid index behind: start afresh.
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(new.name)}")
        schema_editor.execute(
            sql.replace("CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX CONCURRENTLY ", 1)
        )
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(old.name)}")

    return migrations.SeparateDatabaseAndState(
        state_operations=[
            migrations.AddConstraint(model_name, add),
            migrations.RemoveConstraint(model_name, remove.name),
        ],
        database_operations=[
            migrations.RunPython(
                lambda apps, editor: swap(apps, editor, add, remove),
                lambda apps, editor: swap(apps, editor, remove, add),
            )
        ],
    )
