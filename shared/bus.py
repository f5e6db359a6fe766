"""Publishing the outbox's events: to the EventBridge bus in AWS, to a JSON-lines file locally.

Both write the same envelope EventBridge delivers to a rule's target (``id``, ``source``,
``detail-type``, ``time``, ``detail``), so what a consumer sees locally is what it gets deployed.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from shared import clock
from shared.store import PendingEvent

SOURCE = "loyalty"
MAX_BATCH = 10  # PutEvents takes at most 10 entries


class Publisher(Protocol):
    def publish(self, events: list[PendingEvent], at: datetime) -> list[PendingEvent]:
        """Publish ``events``; return those that made it (only they leave the outbox)."""
        ...


class EventBridgePublisher:
    def __init__(self, bus_name: str) -> None:
        import botocore.session  # botocore only: boto3 would add its import time to the job's cold start

        self.bus_name = bus_name
        self.client: Any = botocore.session.get_session().create_client("events")

    def publish(self, events: list[PendingEvent], at: datetime) -> list[PendingEvent]:
        published: list[PendingEvent] = []
        for start in range(0, len(events), MAX_BATCH):
            batch = events[start : start + MAX_BATCH]
            response = self.client.put_events(
                Entries=[
                    {
                        "Source": SOURCE,
                        "DetailType": event.detail_type,
                        "Detail": json.dumps(event.detail, separators=(",", ":")),
                        "EventBusName": self.bus_name,
                        "Time": at,
                    }
                    for event in batch
                ]
            )
            # Entries come back in order; a failed one has an ErrorCode and stays in the outbox.
            published.extend(e for e, r in zip(batch, response["Entries"], strict=True) if "EventId" in r)
        return published


class FilePublisher:
    """Appends each event as one JSON line (and echoes it to the terminal when ``echo``)."""

    def __init__(self, path: Path, echo: bool = False) -> None:
        self.path = path
        self.echo = echo

    def publish(self, events: list[PendingEvent], at: datetime) -> list[PendingEvent]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(envelope(event, at), separators=(",", ":")) for event in events]
        with self.path.open("a", encoding="utf-8") as sink:
            for line in lines:
                sink.write(line + "\n")
        if self.echo:
            for event in events:
                print(f"event  {event.detail_type}  {json.dumps(event.detail, separators=(',', ':'))}", flush=True)
        return list(events)


def envelope(event: PendingEvent, at: datetime) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event.event_id,
        "source": SOURCE,
        "detail-type": event.detail_type,
        "time": clock.format_utc(at),
        "detail": event.detail,
    }


def from_environment() -> Publisher:
    """``LOCAL_EVENTS_FILE`` set: the local file; otherwise the bus named by ``EVENT_BUS_NAME``."""
    local = os.environ.get("LOCAL_EVENTS_FILE")
    if local:
        return FilePublisher(Path(local), echo=os.environ.get("LOCAL_EVENTS_ECHO") == "1")
    return EventBridgePublisher(os.environ["EVENT_BUS_NAME"])
