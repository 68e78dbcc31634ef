"""Moving the test database through migrations, for the tests of a data migration."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.state import StateApps


def migrate_app_to(node: tuple[str, str]) -> StateApps:
    """Every app at its latest migration but ``node``'s, which is at ``node`` (app label,
    migration name); the models as they are then."""
    executor = MigrationExecutor(connection)
    targets = [n for n in executor.loader.graph.leaf_nodes() if n[0] != node[0]]
    targets.append(node)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest() -> None:
    """Every app at its latest migration again (what the rest of the suite expects)."""
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
