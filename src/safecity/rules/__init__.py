"""Rules: configuration, vectorised stateful evaluators, the micro-batch engine and backtests."""

from safecity.rules.base import ConfiguredRule, Facts, Rule, evidence_by
from safecity.rules.config import (
    DEFAULT_RULES_FILE,
    RuleConfig,
    RuleParams,
    RulesError,
    RulesFile,
    load_rules,
    parse_rules,
)
from safecity.rules.engine import RuleEngine, build_rules
from safecity.rules.facts import FactSource, LiveFacts, PeriodFacts
from safecity.rules.kinds import RuleKind, rule_kinds

__all__ = [
    "DEFAULT_RULES_FILE",
    "ConfiguredRule",
    "FactSource",
    "Facts",
    "LiveFacts",
    "PeriodFacts",
    "Rule",
    "RuleConfig",
    "RuleParams",
    "RuleEngine",
    "RuleKind",
    "RulesError",
    "RulesFile",
    "build_rules",
    "evidence_by",
    "load_rules",
    "parse_rules",
    "rule_kinds",
]
