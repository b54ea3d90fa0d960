"""Batch mode: prompts with ``"mode": "batch"`` go through the Message Batches API at half price.

    hand_off(job) ──> Assembler (pure) ──> batches.create ──> hand-off record on TOPIC_BATCHES (acked)
                                                                   │          └─> hand_off returns,
                                                                   v              the offset commits
                        tombstone <── publish events <── stream results <── poll (backoff)

Modules: ``records`` (hand-off record, the fold by key, ``HandOffState``, pure), ``assembly`` (when
and what to submit, pure), ``results`` (result line -> event or resubmission, pure), ``api`` (SDK
adapter), ``handoff_log`` (Kafka adapter for TOPIC_BATCHES: write, tail, read), ``leadership`` (which
replica follows batches), ``publisher`` (output events, windowed acks), ``coordinator`` (the I/O loop
tying them together).

**Which replica follows which batch.** Every replica submits; one, the batch leader (the member of
``<KAFKA_GROUP_ID>.batches`` assigned partition 0 of TOPIC_BATCHES, where every hand-off record goes),
follows every open batch. Every replica tails that partition to know which prompts open batches hold.
See the README ("Which replica follows which batch").
"""

from __future__ import annotations

from service.batch.coordinator import BatchCoordinator

__all__ = ["BatchCoordinator"]
