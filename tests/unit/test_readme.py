"""The README stays true: its configuration table is the settings model's."""

from __future__ import annotations

from service.configdoc import README, updated
from service.settings import SECTIONS, env_name


def test_readme_configuration_table_matches_the_settings_model() -> None:
    """A setting added, removed or re-described without `make docs` fails here."""
    text = README.read_text()
    assert updated(text) == text, "run `make docs` and commit README.md"


def test_every_setting_is_described() -> None:
    """Each environment variable has a description for the table."""
    missing = [
        env_name(s, n) for s in SECTIONS.values() for n, f in s.model_fields.items() if not f.description
    ]
    assert missing == []
