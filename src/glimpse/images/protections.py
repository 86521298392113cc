"""Property protections: Glance's ``property_protection_file``.

The file is INI. Each section names a regular expression; the first section (in file
order) whose expression is found in a property's name decides, for each of ``create``,
``read``, ``update`` and ``delete``, who may do it. A property no section matches may be
neither created, read, changed nor removed by anyone, so files end with a ``[.*]`` section.

``property_protection_rule_format = "roles"``: each operation lists roles, comma-separated;
``@`` allows everyone and ``!`` no one (the two may not be mixed). ``"policies"``: each
operation names one rule of the policy file, checked as ``<section>:<operation>`` with an
empty target. An operation left empty allows no one.

Only additional properties are protected; base attributes keep their own rules.
"""

from __future__ import annotations

import configparser
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from glimpse.auth.policy import Policy, Rules
from glimpse.config import ConfigurationError
from glimpse.model.context import RequestContext

log = logging.getLogger(__name__)

OPERATIONS = ("create", "read", "update", "delete")
Operation = Literal["create", "read", "update", "delete"]
Format = Literal["roles", "policies"]

EVERYONE = "@"
NO_ONE = "!"


@dataclass(frozen=True, slots=True)
class Rule:
    section: str
    pattern: re.Pattern[str]
    # operation -> the roles (roles format) or the one policy rule (policies format)
    allowed: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ProtectionFile:
    """A parsed protection file: its rules in file order."""

    rule_format: Format
    rules: tuple[Rule, ...]

    @property
    def policy_rules(self) -> Rules:
        """The policies format's rules, to register with the policy engine at start-up:
        ``<section>:<operation>`` → ``rule:<named rule>``."""
        if self.rule_format != "policies":
            return {}
        found: dict[str, tuple[str, str | None]] = {}
        for rule in self.rules:
            for operation, names in rule.allowed.items():
                if names and names[0] not in (EVERYONE, NO_ONE):
                    found[f"{rule.section}:{operation}"] = (f"rule:{names[0]}", None)
        return found


def _malformed(path: Path, why: str) -> ConfigurationError:
    return ConfigurationError(f"property_protection_file {path}: {why}")


def read_protection_file(path: Path, rule_format: Format) -> ProtectionFile:
    """Parse and check the file; any flaw is a :class:`ConfigurationError` naming it."""
    parser = configparser.RawConfigParser()
    parser.optionxform = str.lower  # type: ignore[assignment,method-assign]
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise _malformed(path, f"cannot be read ({exc.strerror})") from exc
    except (configparser.Error, UnicodeDecodeError) as exc:
        first_line = str(exc).splitlines()[0]
        raise _malformed(path, f"is not a valid INI file ({first_line})") from exc
    rules = []
    for section in parser.sections():
        try:
            pattern = re.compile(section)
        except re.error as exc:
            raise _malformed(path, f"[{section}] is not a regular expression ({exc})") from exc
        allowed: dict[str, tuple[str, ...]] = {}
        for operation in OPERATIONS:
            if not parser.has_option(section, operation):
                raise _malformed(path, f"[{section}] has no '{operation}' entry")
            value = parser.get(section, operation).strip()
            allowed[operation] = _permissions(path, section, operation, value, rule_format)
        unknown = set(parser.options(section)) - set(OPERATIONS)
        if unknown:
            raise _malformed(path, f"[{section}] has unknown entries: {', '.join(sorted(unknown))}")
        rules.append(Rule(section, pattern, allowed))
    return ProtectionFile(rule_format, tuple(rules))


def _permissions(
    path: Path, section: str, operation: str, value: str, rule_format: Format
) -> tuple[str, ...]:
    if not value:
        log.warning(
            "property_protection_file %s: [%s] %s is empty: no one may %s matching properties",
            path, section, operation, operation,
        )  # fmt: skip
        return ()
    if rule_format == "policies":
        if "," in value:
            raise _malformed(
                path,
                f"[{section}] {operation} names several policies ({value}); "
                "combine them in one rule of the policy file",
            )
        return (value,)
    roles = tuple(role.strip() for role in value.split(","))
    if EVERYONE in roles and NO_ONE in roles:
        raise _malformed(path, f"[{section}] {operation}: '@' and '!' are mutually exclusive")
    return roles


class PropertyProtections:
    """Who may create, read, update or delete which additional properties."""

    def __init__(self, protection_file: ProtectionFile | None, policy: Policy) -> None:
        self._file = protection_file
        self._policy = policy

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def allows(self, name: str, operation: Operation, context: RequestContext) -> bool:
        if self._file is None or not self._file.rules:
            return True
        for rule in self._file.rules:
            if rule.pattern.search(name):
                break
        else:
            return False
        allowed = rule.allowed[operation]
        if not allowed or NO_ONE in allowed:
            return False
        if EVERYONE in allowed:
            return True
        if self._file.rule_format == "policies":
            return self._policy.allows(f"{rule.section}:{operation}", context, {})
        return not set(allowed).isdisjoint(context.roles)

    def readable(
        self, properties: dict[str, str | None], context: RequestContext
    ) -> dict[str, str | None]:
        """The properties this caller may read."""
        if self._file is None:
            return properties
        return {k: v for k, v in properties.items() if self.allows(k, "read", context)}
