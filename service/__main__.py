"""``python -m service`` is ``claude-kafka``."""

from service.cli import main

main(prog_name="claude-kafka")
