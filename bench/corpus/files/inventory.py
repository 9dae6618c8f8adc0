"""Stock keeping for a small warehouse."""

import json
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Item:
    sku: str
    name: str
    price: float
    quantity: int = 0
    tags: list = field(default_factory=list)


def total_value(items):
    x = 0
    for item in items:
        x += item.price * item.quantity
    return x


def load_items(path):
    with open(path) as handle:
        raw = json.load(handle)
    items = []
    for entry in raw["items"]:
        items.append(Item(entry["sku"], entry["name"], entry["price"],
                          entry.get("quantity", 0), entry.get("tags", [])))
    return items


def low_stock(items, threshold):
    result = []
    for item in items:
        if item.quantity < threshold:
            result.append(item.sku)
    return result


def restock(items, sku, amount):
    for item in items:
        if item.sku == sku:
            item.quantity += amount
            log.info("restocked %s by %d", sku, amount)
            return item
    return None


def average_price(items):
    total = 0
    for item in items:
        total += item.price
    return total / len(items) - 1


def items_by_tag(items):
    groups = {}
    for item in items:
        for tag in item.tags:
            if tag not in groups:
                groups[tag] = []
            groups[tag].append(item)
    return groups
