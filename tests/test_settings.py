"""Settings: the core fields and each capability's section, read from the same SAFECITY_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field, ValidationError

from safecity.alerts.settings import AlertSettings
from safecity.core import capabilities
from safecity.core.capabilities import Capability
from safecity.core.config import Section, SettingsSection
from safecity.ingest.settings import IngestSettings
from safecity.rules.settings import RulesSettings
from safecity.security.settings import SecuritySettings
from safecity.settings import Settings, SettingsError, sections


def test_a_section_is_set_by_the_variable_named_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFECITY_MQTT_URL", "mqtt://broker:1883")
    monkeypatch.setenv("SAFECITY_RULES_FLUSH_MS", "75")
    monkeypatch.setenv("SAFECITY_ALERT_FALLBACK_STATION", "centre-2")
    monkeypatch.setenv("SAFECITY_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("SAFECITY_PORT", "8123")
    cfg = Settings()
    assert cfg.section(IngestSettings).mqtt_url == "mqtt://broker:1883"
    assert cfg.section(RulesSettings).rules_flush_ms == 75
    assert cfg.section(AlertSettings).alert_fallback_station == "centre-2"
    assert cfg.section(SecuritySettings).login_max_failures == 3
    assert cfg.port == 8123


def test_keyword_arguments_reach_their_section_and_win_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAFECITY_MAX_BATCH_EVENTS", "10")
    cfg = Settings(data_dir=tmp_path, max_batch_events=20, audit_key_file=tmp_path / "k")
    assert cfg.section(IngestSettings).max_batch_events == 20
    assert cfg.data_dir == tmp_path
    assert cfg.resolved_audit_key_file == tmp_path / "k"
    assert cfg.resolved_token_key_file == tmp_path / "secrets" / "token.key"


def test_a_bad_value_in_a_section_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFECITY_MQTT_LINGER_MS", "soon")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "mqtt_linger_ms" in str(caught.value)


def test_a_bad_city_box_is_refused() -> None:
    with pytest.raises(ValidationError, match="city_bbox"):
        Settings(city_bbox="north,south")


def test_an_unknown_setting_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="mqtt_ulr"):
        Settings(mqtt_ulr="mqtt://typo")


def test_every_installed_section_and_only_those_are_read() -> None:
    names = {s.name for s in sections()}
    assert {"ingest", "rules", "alerts", "security"} <= names

    class Elsewhere(Section):
        other: int = 1

    with pytest.raises(SettingsError, match="Elsewhere"):
        Settings().section(Elsewhere)


def test_two_capabilities_declaring_one_setting_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    class Clash(Section):
        mqtt_url: str = Field("", description="the same variable as ingest's")

    clashing = Capability(
        "clash", "declares a setting ingest has", extensions=(SettingsSection("clash", Clash),)
    )
    real = capabilities.installed()
    monkeypatch.setattr(capabilities, "installed", lambda: (*real, clashing))
    sections.cache_clear()
    try:
        with pytest.raises(SettingsError, match="SAFECITY_MQTT_URL is declared twice: by ingest and clash"):
            sections()
    finally:
        monkeypatch.undo()
        sections.cache_clear()
    assert sections()  # the real installation reads again
