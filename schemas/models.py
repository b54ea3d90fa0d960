"""The one default model id: ``send``, the demo and every example use it.

``claude-sonnet-5-5`` is the current Sonnet in the installed SDK's ``anthropic.types.Model``;
``claude-sonnet-4-5`` (the old default) was retired on 2026-11-30
(https://platform.claude.com/docs/en/about-claude/model-deprecations). A unit test fails when this
id stops being a current (listed, not deprecated, not retired) id of the installed SDK.
"""

from __future__ import annotations

DEFAULT_MODEL = "claude-sonnet-5-5"
