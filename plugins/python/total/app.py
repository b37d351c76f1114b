"""total_python: the order total, the same contract as every other plugin language.

Input {"items": [{"price": n, "qty": n}]}; output {"total": n, "lines": n}; a negative quantity
raises InvalidItem. Built with componentize-py against sdk/wit (world `handler`).
"""
import json

import wit_world
from componentize_py_types import Err


class WitWorld(wit_world.WitWorld):
    def handle(self, input: str, context: str) -> str:
        order = json.loads(input)
        items = order.get("items") or []
        total = 0.0
        for i, item in enumerate(items):
            price = float(item.get("price") or 0)
            qty = float(item.get("qty") or 0)
            if qty < 0:
                raise Err(wit_world.TaskError(error="InvalidItem", cause=f"item {i} has a negative quantity"))
            total += price * qty
        total = round(total * 100) / 100
        return json.dumps({"total": int(total) if total == int(total) else total, "lines": len(items)})
