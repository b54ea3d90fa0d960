"""Batch mode: prompts with ``"mode": "batch"`` go through the Message Batches API at half price.

    hand_off(job) ──> Assembler (pure) ──> batches.create ──> hand-off record on TOPIC_BATCHES (acked)
                                                                   │          └─> hand_off returns,
                                                                   v              the offset commits
                        tombstone <── publish events <── stream results <── poll (backoff)

Modules: ``records`` (hand-off record, the fold by key, ``HandOffState``, pure), ``assembly`` (when
and what to submit, pure), ``results`` (result line -> event or resubmission, pure), ``api`` (SDK
adapter), ``publisher`` (output events, windowed acks), and one module per job: ``submitter``
(assemble, create, record), ``index`` (which prompts open batches hold), ``following`` (the leader's
task per open batch); ``coordinator`` wires them and follows the hand-off topic. The Kafka side,
``service.kafka.handoff_log`` (write, tail, read TOPIC_BATCHES) and ``service.kafka.leadership``
(which replica follows batches), lives with the rest of the bus.

**Which replica follows which batch.** Every replica submits; one, the batch leader (the member of
``<KAFKA_GROUP_ID>.batches`` assigned partition 0 of TOPIC_BATCHES, where every hand-off record goes),
follows every open batch. Every replica tails that partition to know which prompts open batches hold.
See the README ("Which replica follows which batch").
"""

from __future__ import annotations

from service.batch.coordinator import BatchCoordinator

__all__ = ["BatchCoordinator"]
