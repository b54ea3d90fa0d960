"""claude-kafka: Claude on a Kafka bus."""

__version__ = "0.1.0"
