"""[[migrations]] -> the Durable Object classes a Worker exports, as wrangler applies them."""

from __future__ import annotations

from groundflare.workerd_config.model import DurableObjectClass
from groundflare.workerd_config.wrangler_schema import Migration


class MigrationError(ValueError):
    pass


def classes_from_migrations(
    migrations: list[Migration],
) -> tuple[dict[str, DurableObjectClass], list[str]]:
    """The classes alive after every migration, and warnings for what is not supported.

    new_classes are key-value backed (no ctx.storage.sql, as in production);
    new_sqlite_classes are SQLite backed. A renamed class keeps its storage key, so its
    objects keep their data; a deleted class is gone (its files stay on disk).
    """
    classes: dict[str, DurableObjectClass] = {}
    warnings: list[str] = []
    for migration in migrations:
        for name in migration.new_classes:
            classes[name] = DurableObjectClass(class_name=name, unique_key=name, enable_sql=False)
        for name in migration.new_sqlite_classes:
            classes[name] = DurableObjectClass(class_name=name, unique_key=name, enable_sql=True)
        for rename in migration.renamed_classes:
            old = classes.pop(rename.from_, None)
            if old is None:
                raise MigrationError(
                    f"migration {migration.tag!r} renames {rename.from_!r}, "
                    "which no earlier migration created"
                )
            classes[rename.to] = old.model_copy(update={"class_name": rename.to})
        for name in migration.deleted_classes:
            if classes.pop(name, None) is None:
                raise MigrationError(
                    f"migration {migration.tag!r} deletes {name!r}, which no earlier migration "
                    "created"
                )
        for transfer in migration.transferred_classes:
            warnings.append(
                f"migration {migration.tag!r}: transferred_classes ({transfer.from_script}."
                f"{transfer.from_} -> {transfer.to}) is not supported locally; {transfer.to} "
                "starts with empty storage"
            )
            classes[transfer.to] = DurableObjectClass(
                class_name=transfer.to, unique_key=transfer.to, enable_sql=True
            )
    return classes, warnings
