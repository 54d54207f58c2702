import { Actor } from "@praas/silo";

export interface CounterState {
  value: number;
}

/** The smallest useful actor: a durable counter. */
export class Counter extends Actor<CounterState> {
  static initialState(): CounterState {
    return { value: 0 };
  }

  async add(n: number): Promise<number> {
    if (typeof n !== "number" || !Number.isFinite(n)) throw new RangeError("add() needs a finite number");
    this.state.value += n;
    return this.state.value;
  }

  get(): number {
    return this.state.value;
  }
}

export interface CartState {
  items: Map<string, number>;
  updatedAt: Date | null;
}

/** A shopping cart: Map and Date state round-trip through the codec. */
export class Cart extends Actor<CartState> {
  static initialState(): CartState {
    return { items: new Map(), updatedAt: null };
  }

  add(sku: string, quantity = 1): number {
    const items = this.state.items;
    items.set(sku, (items.get(sku) ?? 0) + quantity);
    this.state.updatedAt = new Date();
    return items.get(sku) as number;
  }

  remove(sku: string): boolean {
    const had = this.state.items.delete(sku);
    if (had) this.state.updatedAt = new Date();
    return had;
  }

  list(): Map<string, number> {
    return this.state.items;
  }

  /** Total price, asking the Catalog actor for each price: actor-to-actor calls. */
  async total(): Promise<number> {
    const catalog = this.ref(Catalog, "main");
    let sum = 0;
    for (const [sku, qty] of this.state.items) sum += (await catalog.price(sku)) * qty;
    return sum;
  }
}

/** Prices by SKU, read-mostly: `price` may interleave with other turns. */
export class Catalog extends Actor<{ prices: Record<string, number> }> {
  static initialState() {
    return { prices: { apple: 3, pear: 4, plum: 2 } as Record<string, number> };
  }
  static readonly interleave = ["price"];

  price(sku: string): number {
    const p = this.state.prices[sku];
    if (p === undefined) throw Object.assign(new Error(`unknown SKU ${sku}`), { code: "UNKNOWN_SKU" });
    return p;
  }

  setPrice(sku: string, price: number): void {
    this.state.prices[sku] = price;
  }
}
