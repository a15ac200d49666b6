"""Hocba's shared contracts: the envelope, the topic registry, payloads and their versions.

Services share only this package. It depends on pydantic alone.
"""

from hocba_contracts.catalog import parse_event, topic_envelope
from hocba_contracts.envelope import Envelope, EventPayload
from hocba_contracts.events import envelope_model, follow_up, make_envelope
from hocba_contracts.topics import TOPICS, TopicSpec, dead_letter_topic, topic

__all__ = [
    "TOPICS",
    "Envelope",
    "EventPayload",
    "TopicSpec",
    "dead_letter_topic",
    "envelope_model",
    "follow_up",
    "make_envelope",
    "parse_event",
    "topic",
    "topic_envelope",
]
