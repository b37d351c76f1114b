// total_js: the order total, the same contract as every other plugin language.
// Input {"items": [{"price": n, "qty": n}]}; output {"total": n, "lines": n}; a negative
// quantity throws {error: "InvalidItem", cause}. Built with componentize-js against sdk/wit.
export function handle(input, context) {
  const order = JSON.parse(input);
  const items = order.items || [];
  let total = 0;
  items.forEach((item, i) => {
    const price = Number(item.price || 0);
    const qty = Number(item.qty || 0);
    if (qty < 0) {
      throw { error: "InvalidItem", cause: `item ${i} has a negative quantity` };
    }
    total += price * qty;
  });
  total = Math.round(total * 100) / 100;
  return JSON.stringify({ total, lines: items.length });
}
