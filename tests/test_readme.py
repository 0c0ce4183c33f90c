"""The README stays true: every setting is documented with its environment variable."""

from __future__ import annotations

from pathlib import Path

from safecity.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [name for name in Settings.all_fields() if f"`SAFECITY_{name.upper()}`" not in text]
    assert missing == [], f"document these settings in README.md: {missing}"


def test_the_two_commands_come_first() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.index("make demo") < text.index("## What it does")
    assert text.index("make test") < text.index("## What it does")


def test_the_security_doc_shows_the_permission_table_as_it_is() -> None:
    """docs/security.md's role table is regenerated from roles.py whenever the table changes."""
    from safecity.security.roles import ROLE_PERMISSIONS, Permission, Role

    text = (README.parent / "docs" / "security.md").read_text(encoding="utf-8")
    for permission in Permission:
        row = f"| `{permission.value}` | " + " | ".join(
            "✓" if permission in ROLE_PERMISSIONS[role] else "" for role in Role
        )
        assert row in text, f"docs/security.md: the row of {permission.value} is out of date"
