"""Authorisation: oslo.policy with the rules each capability defines (Glance's names and
default check strings: ``glimpse.images.policies``, …), handed over at start-up.

An operator's ``policy.yaml`` overrides rules by the same names. With legacy defaults
(what Glance's unauthenticated pipeline runs with), each rule's deprecated check string is
OR-ed in, which opens most rules and keeps ``publicize_image`` admin-only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from oslo_config import cfg
from oslo_policy import policy

from glimpse.config import ConfigurationError
from glimpse.errors import NotPermitted
from glimpse.model.context import RequestContext

log = logging.getLogger(__name__)

_HELPERS = [
    policy.RuleDefault("default", "", deprecated_rule=None),
    policy.RuleDefault("context_is_admin", "role:admin"),
    policy.RuleDefault("service_api", "role:service or role:admin"),
]


# rule name -> (default check string, deprecated check string or None)
Rules = Mapping[str, tuple[str, str | None]]

# what every capability's rules may refer to
ADMIN = "rule:context_is_admin"
SERVICE = "rule:service_api"


def _defaults(rules: Rules) -> list[policy.RuleDefault]:
    found = list(_HELPERS)
    for name, (check, deprecated) in rules.items():
        old = (
            policy.DeprecatedRule(
                name, deprecated, deprecated_reason="secure RBAC", deprecated_since="glimpse"
            )
            if deprecated
            else None
        )
        found.append(policy.RuleDefault(name, check, scope_types=["project"], deprecated_rule=old))
    return found


_MAX_DECISIONS = 16384


class Policy:
    def __init__(
        self, rules: Rules, *, legacy_defaults: bool, policy_file: Path | None = None
    ) -> None:
        conf = cfg.ConfigOpts()
        conf([], project="glimpse", default_config_files=[], default_config_dirs=[])
        self._enforcer = policy.Enforcer(
            conf,
            policy_file=str(policy_file) if policy_file else None,
        )
        self._enforcer.suppress_deprecation_warnings = True
        conf.set_override("enforce_new_defaults", not legacy_defaults, group="oslo_policy")
        self._enforcer.register_defaults(_defaults(rules))
        if policy_file is not None and not policy_file.is_file():
            raise ConfigurationError(f"policy_file {policy_file} does not exist")
        try:
            self._enforcer.load_rules()
        except Exception as exc:  # yaml/json syntax, bad check strings
            raise ConfigurationError(f"policy_file {policy_file} cannot be used: {exc}") from exc
        for name, rule in self._enforcer.file_rules.items():
            # oslo.policy turns a check string it cannot parse into "deny" and logs it;
            # an operator is better served by a refusal to start
            if str(rule.check) == "!" and rule.check_str.strip() != "!":
                raise ConfigurationError(
                    f"policy_file {policy_file}: rule {name!r} cannot be parsed: {rule.check_str!r}"
                )
        unknown = set(self._enforcer.file_rules) - set(self._enforcer.registered_rules)
        if unknown:
            log.warning(
                "policy_file %s names rules glimpse does not use: %s",
                policy_file,
                ", ".join(sorted(unknown)),
            )
        # Rules are read once at start-up. Without this, every check would look for a
        # changed policy file on disk (a large share of a request's time).
        self._enforcer.use_conf = False
        self._decisions: dict[tuple[Any, ...], bool] = {}

    def allows(self, rule: str, context: RequestContext, target: dict[str, Any]) -> bool:
        # A decision depends only on the rule, the credentials and the target, and the
        # rules are fixed after start-up, so decisions are remembered: oslo.policy spends
        # ~100 µs introspecting its check tree on every call. The key is made of exactly
        # what oslo.policy is given, so a credential added later cannot be left out of it.
        creds = context.policy_credentials()
        key = (rule, _frozen(creds), _frozen(target))
        found = self._decisions.get(key)
        if found is None:
            found = bool(self._enforcer.enforce(rule, target, creds, do_raise=False))
            if len(self._decisions) >= _MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = found
        return found

    def require(self, rule: str, context: RequestContext, target: dict[str, Any]) -> None:
        if not self.allows(rule, context, target):
            raise NotPermitted(f"You are not authorized to complete {rule} action.")


def _frozen(values: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A dict of credentials or target values as a hashable key (lists become tuples)."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in values.items()))
