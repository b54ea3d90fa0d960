"""Batch mode: prompts with ``"mode": "batch"`` go through the Message Batches API at half price.

    hand_off(job) ──> Assembler (pure) ──> batches.create ──> hand-off record on TOPIC_BATCHES (acked)
                                                                   │          └─> hand_off returns,
                                                                   v              the offset commits
                        tombstone <── publish events <── stream results <── poll (backoff)

Modules: ``records`` (hand-off record, fold by key, pure), ``assembly`` (when and what to submit,
pure), ``results`` (result line -> event or resubmission, pure), ``api`` (SDK adapter),
``handoff_log`` (Kafka adapter for TOPIC_BATCHES), ``publisher`` (output events, windowed acks),
``coordinator`` (the I/O loop tying them together).

**Which replica follows which batch.** Each instance follows the batches it submits, and at start-up
every open batch it finds on TOPIC_BATCHES (any replica may have submitted it). With several replicas
restarting, two may follow the same batch; that costs duplicate polls and duplicate result events,
which are identical (same custom_id, generation and attempt) and so harmless to a consumer that
deduplicates as the event contract asks. Resubmissions of expired/canceled requests can then also be
duplicated (an extra API batch, a final event under the same attempt); downstream keeps one. We chose
this over partition ownership of the hand-off topic because it needs no coordination and loses
nothing; see the README ("Batch mode").
"""

from __future__ import annotations

from service.batch.coordinator import BatchCoordinator

__all__ = ["BatchCoordinator"]
