/**
 * The quick start: an embedded silo with zero configuration. Run it twice and
 * watch the counter continue where it stopped: state is swapped out to
 * ./.praas-state on stop and swapped back in on the next call.
 */
import { Silo } from "@praas/silo";
import { Cart, Catalog, Counter } from "./actors.js";

// The state folder: ./.praas-state unless $PRAAS_STATE_DIR names another (the library reads no environment).
const silo = await Silo.start({ actors: [Counter, Cart, Catalog], stateDir: process.env.PRAAS_STATE_DIR });
silo.on("activate", (id) => console.log(`  activated ${id.type}/${id.key}`));
silo.on("deactivate", (id, reason) => console.log(`  swapped out ${id.type}/${id.key} (${reason})`));

const alice = silo.ref(Counter, "alice");
console.log(`Counter/alice.add(5) → ${await alice.add(5)}`);
console.log(`Counter/alice.get() → ${await alice.get()}`);

const cart = silo.ref(Cart, "u42");
await cart.add("apple", 2);
await cart.add("pear");
console.log(`Cart/u42.list() →`, await cart.list());
console.log(`Cart/u42.total() → ${await cart.total()} (Cart asked Catalog/main for prices)`);

try {
  await cart.add("kiwi");
  await cart.total();
} catch (err) {
  const e = err as { name: string; code: string; message: string };
  console.log(`Cart/u42.total() failed as expected: ${e.name} [${e.code}] ${e.message}`);
} finally {
  await cart.remove("kiwi");
}

await silo.deactivate(alice);
console.log(`after swap-out, Counter/alice.get() → ${await alice.get()} (swapped back in)`);

await silo.stop();
console.log("silo stopped; state saved in", process.env.PRAAS_STATE_DIR ?? ".praas-state");
