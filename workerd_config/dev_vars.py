"""Local secrets next to the config, found the way `wrangler dev` finds them.

`.dev.vars.<env>` (with --env) else `.dev.vars`; when neither exists, the
dotenv files `.env`, `.env.local`, `.env.<env>`, `.env.<env>.local`, later
ones overriding earlier ones. Every value is a secret binding.
"""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values


def dev_var_files(config_dir: Path, env: str | None) -> list[Path]:
    if env is not None and (config_dir / f".dev.vars.{env}").is_file():
        return [config_dir / f".dev.vars.{env}"]
    if (config_dir / ".dev.vars").is_file():
        return [config_dir / ".dev.vars"]
    names = [".env", ".env.local"]
    if env is not None:
        names += [f".env.{env}", f".env.{env}.local"]
    return [config_dir / name for name in names if (config_dir / name).is_file()]


def load_dev_vars(config_dir: Path, env: str | None) -> tuple[dict[str, str], list[Path]]:
    values: dict[str, str] = {}
    files = dev_var_files(config_dir, env)
    for path in files:
        for key, value in dotenv_values(path).items():
            if value is not None:
                values[key] = value
    return values, files
