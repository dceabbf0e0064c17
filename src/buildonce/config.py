"""User configuration: ``[tool.buildonce]`` in ``pyproject.toml`` or a ``.buildonce.toml``.

``.buildonce.toml`` holds the same keys at its top level.  Keys (all optional)::

    builder-jobs = ["build-artifact"]      # jobs that seed the binary cache
    reporting-jobs = ["system-test-status"]  # jobs allowed to use if: always()
    binary-paths = ["bin/ksail"]           # what counts as the binary
    smoke-command = "./bin/ksail --version"

    [rules.smoke-test-guard]               # per rule: enabled and/or severity
    severity = "error"                     # error | warning | note
    [rules.parallel-safety]
    enabled = false

Every problem raises :class:`~buildonce.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildonce.errors import ConfigError

CONFIG_FILES = (".buildonce.toml", "pyproject.toml")
SEVERITIES = ("error", "warning", "note")
#: Tables other parts of buildonce read from the same section; not validated here.
FOREIGN_SECTIONS = frozenset({"store", "cache", "keys", "telemetry"})
_LIST_KEYS = ("builder-jobs", "reporting-jobs", "binary-paths")


@dataclass(frozen=True, slots=True)
class RuleConfig:
    enabled: bool = True
    severity: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """Validated lint configuration; ``source`` is the file it came from (or ``None``)."""

    builder_jobs: tuple[str, ...] = ()
    reporting_jobs: tuple[str, ...] = ()
    binary_paths: tuple[str, ...] = ()
    smoke_command: str | None = None
    rules: dict[str, RuleConfig] = field(default_factory=dict)
    source: str | None = None

    def rule(self, rule_id: str) -> RuleConfig:
        return self.rules.get(rule_id, RuleConfig())


def find_config(start: Path) -> Path | None:
    """The nearest config file at or above ``start`` (a pyproject.toml only counts when it
    has a ``[tool.buildonce]`` table)."""
    start = start.resolve()
    for folder in [start, *start.parents]:
        candidate = folder / ".buildonce.toml"
        if candidate.is_file():
            return candidate
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            import tomllib  # only when there is a file to read (keeps lint start-up short)

            try:
                text = candidate.read_text(encoding="utf-8")
                # Without the word there is no [tool.buildonce] table: skip the parse.
                data = tomllib.loads(text) if "buildonce" in text else {}
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                return candidate  # let load_config report it
            if isinstance(data.get("tool"), dict) and "buildonce" in data["tool"]:
                return candidate
        if (folder / ".git").exists():
            break
    return None


def load_config(path: str | Path | None = None, *, start: Path | None = None) -> Config:
    """Load ``path``, or the nearest config file found from ``start`` (default: cwd).

    No file at all gives the defaults.
    """
    if path is None:
        found = find_config(start or Path.cwd())
        if found is None:
            return Config()
        path = found
    file = Path(path)
    where = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", where=where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", where=where) from None
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", where=where) from None
    if file.name == "pyproject.toml":
        tool = data.get("tool", {})
        table = tool.get("buildonce", {}) if isinstance(tool, dict) else {}
        prefix = "tool.buildonce."
    else:
        table = data
        prefix = ""
    if not isinstance(table, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'file'} must be a table", where=where)
    return parse_config(table, where=where, prefix=prefix)


def parse_config(table: dict[str, Any], *, where: str, prefix: str = "") -> Config:
    from buildonce.rules import RULES

    values: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if key in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(
                    f"{name} must be a list of non-empty strings",
                    where=where,
                    hint=f'e.g. {key} = ["build-artifact"]',
                )
            values[key.replace("-", "_")] = tuple(value)
        elif key == "smoke-command":
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(
                    f"{name} must be a non-empty string",
                    where=where,
                    hint='e.g. smoke-command = "./bin/app --version"',
                )
            values["smoke_command"] = value
        elif key == "rules":
            if not isinstance(value, dict):
                raise ConfigError(f"{name} must be a table of rule ids", where=where)
            values["rules"] = _rules(value, where, f"{name}.", RULES)
        elif key in FOREIGN_SECTIONS:
            continue
        else:
            known = ", ".join([*_LIST_KEYS, "smoke-command", "rules"])
            raise ConfigError(f"unknown key {name!r}", where=where, hint=f"known keys: {known}")
    return Config(source=where, **values)


def _rules(
    table: dict[str, Any], where: str, prefix: str, known: dict[str, Any]
) -> dict[str, RuleConfig]:
    result: dict[str, RuleConfig] = {}
    for rule_id, options in table.items():
        name = f"{prefix}{rule_id}"
        if rule_id not in known:
            raise ConfigError(
                f"unknown rule {rule_id!r} in {name}",
                where=where,
                hint=f"known rules: {', '.join(known)}",
            )
        if not isinstance(options, dict):
            raise ConfigError(f"{name} must be a table", where=where, hint="e.g. enabled = false")
        enabled = True
        severity: str | None = None
        for key, value in options.items():
            if key == "enabled":
                if not isinstance(value, bool):
                    raise ConfigError(f"{name}.enabled must be true or false", where=where)
                enabled = value
            elif key == "severity":
                if value not in SEVERITIES:
                    raise ConfigError(
                        f"{name}.severity must be one of {', '.join(SEVERITIES)}, got {value!r}",
                        where=where,
                    )
                severity = value
            else:
                raise ConfigError(
                    f"unknown key {name}.{key}", where=where, hint="known keys: enabled, severity"
                )
        result[rule_id] = RuleConfig(enabled, severity)
    return result
