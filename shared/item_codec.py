"""DynamoDB items straight from plain values, as PynamoDB's ``Model(...).serialize()`` makes them.

The write path builds four or five items per request. Building each as a PynamoDB model and
serializing it goes through PynamoDB's attribute descriptors, defaults and per-value type
lookups: about 0.8 ms a write, a third of the engine's own time on a warm earn. An
:class:`ItemCodec` reads a model's attribute declarations once and turns keyword values into
the same ``{name: {type: value}}`` item directly. The models in ``shared.models`` stay the one
schema (reads still deserialize through them); ``tests/unit/test_item_codec.py`` checks this
module's items equal PynamoDB's for every model the write path uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)

AttributeValue = dict[str, Any]
Encoder = Callable[[Any], AttributeValue | None]


def _number(value: Any) -> AttributeValue:
    # PynamoDB writes numbers with json.dumps; for an int (never a bool here) that is str().
    return {"N": str(value) if type(value) is int else json.dumps(value)}


def _encoder(attribute: Attribute[Any]) -> Encoder:
    """How one declared attribute's value becomes an AttributeValue (``None``: leave it out)."""
    kind = type(attribute)
    if kind is UnicodeAttribute:
        return lambda value: {"S": value}
    if kind is NumberAttribute:
        return _number
    if kind is BooleanAttribute:
        return lambda value: {"BOOL": bool(value)}
    if isinstance(attribute, ListAttribute) and attribute.element_type is not None:
        element = _element_encoder(attribute.element_type)
        return lambda values: {"L": [element(value) for value in values]}
    if isinstance(attribute, MapAttribute) and not attribute.is_raw():
        fields = _MapCodec(type(attribute))
        return lambda value: {"M": fields.encode(value)}
    # Raw maps, untyped lists and anything rarer: PynamoDB's own serializer.
    attr_type = attribute.attr_type

    def generic(value: Any) -> AttributeValue | None:
        if isinstance(attribute, (ListAttribute, MapAttribute)):
            serialized = attribute.serialize(value, null_check=True)
        else:
            serialized = attribute.serialize(value)
        return None if serialized is None else {attr_type: serialized}

    return generic


def _element_encoder(element_type: type[Attribute[Any]]) -> Callable[[Any], AttributeValue]:
    """A typed list's element: PynamoDB writes ``{"NULL": True}`` for a missing one."""
    encode = _encoder(element_type())

    def element(value: Any) -> AttributeValue:
        if value is None:
            return {"NULL": True}
        encoded = encode(value)
        return {"NULL": True} if encoded is None else encoded

    return element


class _Fields:
    """A container's declared attributes: (python name, stored name, encoder, nullable, default)."""

    def __init__(self, attributes: dict[str, Attribute[Any]], defaults: bool = True) -> None:
        self.defaults = defaults
        self.fields = [
            (name, attribute.attr_name, _encoder(attribute), attribute.null, attribute.default)
            for name, attribute in attributes.items()
        ]

    def encode(self, values: dict[str, Any]) -> dict[str, AttributeValue]:
        item: dict[str, AttributeValue] = {}
        for name, stored, encode, nullable, default in self.fields:
            if name in values:
                value = values[name]
            elif default is not None and self.defaults:
                value = default() if callable(default) else default
            else:
                value = None
            encoded = None if value is None else encode(value)
            if encoded is None:
                if not nullable:
                    raise ValueError(f"attribute {name!r} is required")
                continue
            item[stored] = encoded
        return item


class _MapCodec(_Fields):
    """A typed map attribute (``LotAttribute``): its values come as a dict or as an instance."""

    def __init__(self, map_type: type[MapAttribute[Any, Any]]) -> None:
        # PynamoDB copies a dict onto a fresh instance whose defaults it has cleared: none apply.
        super().__init__(map_type.get_attributes(), defaults=False)

    def encode(self, values: Any) -> dict[str, AttributeValue]:
        if isinstance(values, MapAttribute):
            values = {name: getattr(values, name) for name, *_ in self.fields}
        return super().encode(values)


class ItemCodec(_Fields):
    """The items of one PynamoDB model: ``codec.item(hash_key, range_key, **attributes)``."""

    def __init__(self, model: Any) -> None:
        attributes = model.get_attributes()
        self.hash_key = next(a.attr_name for a in attributes.values() if a.is_hash_key)
        self.range_key = next(a.attr_name for a in attributes.values() if a.is_range_key)
        super().__init__({n: a for n, a in attributes.items() if not (a.is_hash_key or a.is_range_key)})

    def item(self, hash_key: str, range_key: str, **values: Any) -> dict[str, AttributeValue]:
        item = {self.hash_key: {"S": hash_key}, self.range_key: {"S": range_key}}
        item.update(self.encode(values))
        return item
