"""Migration operations the portal's live tables need.

Django builds an index (and a partial unique constraint, which is a unique index on
PostgreSQL) with a plain ``CREATE INDEX``, which holds a lock that stops every insert into the
table while the index is built: on the alarm events' table, bridges' alarms would wait through
a deploy. ``replace_unique_concurrently`` and ``replace_index_concurrently`` build the new one
``CONCURRENTLY`` (inserts go on meanwhile), then drop the old one the same way; elsewhere
(SQLite) they add and remove them as usual. A migration using them must say ``atomic = False``:
PostgreSQL builds an index concurrently only outside a transaction.
"""

from __future__ import annotations

from django.db import migrations
from django.db.models import Index, UniqueConstraint


def replace_unique_concurrently(
    app_label: str, model_name: str, *, add: UniqueConstraint, remove: UniqueConstraint
) -> migrations.SeparateDatabaseAndState:
    """``remove`` gives way to ``add`` on the model; the new rule is in place first, so the
    rows are never unguarded in between (and the other way round, migrating back)."""
    return _replace_concurrently(
        app_label,
        model_name,
        add=add,
        remove=remove,
        create="CREATE UNIQUE INDEX ",
        state=[
            migrations.AddConstraint(model_name, add),
            migrations.RemoveConstraint(model_name, remove.name),
        ],
    )


def replace_index_concurrently(
    app_label: str, model_name: str, *, add: Index, remove: Index
) -> migrations.SeparateDatabaseAndState:
    """``remove`` gives way to ``add`` on the model; the new index is built first, so the
    queries it serves never go without one (and the other way round, migrating back)."""
    return _replace_concurrently(
        app_label,
        model_name,
        add=add,
        remove=remove,
        create="CREATE INDEX ",
        state=[
            migrations.AddIndex(model_name, add),
            migrations.RemoveIndex(model_name, remove.name),
        ],
    )


def _replace_concurrently(
    app_label: str,
    model_name: str,
    *,
    add: Index | UniqueConstraint,
    remove: Index | UniqueConstraint,
    create: str,
    state: list,
) -> migrations.SeparateDatabaseAndState:
    def swap(apps, schema_editor, new, old) -> None:
        model = apps.get_model(app_label, model_name)
        if schema_editor.connection.vendor != "postgresql":
            _add(schema_editor, model, new)
            _remove(schema_editor, model, old)
            return
        quote = schema_editor.quote_name
        sql = str(new.create_sql(model, schema_editor))
        if not sql.startswith(create):
            raise ValueError(f"not built with {create.strip()}: {sql}")
        # A build that failed half-way leaves an invalid index behind: start afresh.
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(new.name)}")
        schema_editor.execute(sql.replace(create, f"{create}CONCURRENTLY ", 1))
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(old.name)}")

    return migrations.SeparateDatabaseAndState(
        state_operations=state,
        database_operations=[
            migrations.RunPython(
                lambda apps, editor: swap(apps, editor, add, remove),
                lambda apps, editor: swap(apps, editor, remove, add),
            )
        ],
    )


def _add(schema_editor, model, what: Index | UniqueConstraint) -> None:
    if isinstance(what, Index):
        schema_editor.add_index(model, what)
    else:
        schema_editor.add_constraint(model, what)


def _remove(schema_editor, model, what: Index | UniqueConstraint) -> None:
    if isinstance(what, Index):
        schema_editor.remove_index(model, what)
    else:
        schema_editor.remove_constraint(model, what)
