"""Tool loops: a prompt with ``loop`` runs client tools as Kafka round trips (issue 21).

``turns`` is the pure core (the next request, the tool results, summed usage), ``run`` the state of
one run, ``results`` the adapter that routes ToolResultEvents to the runs waiting for them, ``calls``
builds ToolCallEvents, and ``loop`` drives one run turn by turn for ``service.pipeline.prompts``.
"""
