"""``claude-kafka run`` without the CLI group: the same ``Runner`` and settings from the environment.

The bench launches the service through this so that it measures the pipeline even while other CLI
commands are being changed; it does exactly what ``service/cli/run.py`` does.
"""

from __future__ import annotations

import asyncio

from service import logs
from service.runner import Runner
from service.settings import load_settings


def main() -> None:
    settings = load_settings(env_file=None)
    logs.configure(settings.observability.log_level, settings.observability.log_format)

    async def serve() -> None:
        runner = Runner(settings)
        runner.install_signal_handlers()
        await runner.serve()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
