"""Rules: configuration, vectorised stateful evaluators, the micro-batch engine and backtests."""

from safecity.rules.base import Facts, Rule
from safecity.rules.config import DEFAULT_RULES_FILE, RulesError, RulesFile, load_rules, parse_rules
from safecity.rules.engine import RuleEngine, build_rules
from safecity.rules.facts import LiveFacts, PeriodFacts

__all__ = [
    "DEFAULT_RULES_FILE",
    "Facts",
    "LiveFacts",
    "PeriodFacts",
    "Rule",
    "RuleEngine",
    "RulesError",
    "RulesFile",
    "build_rules",
    "load_rules",
    "parse_rules",
]
