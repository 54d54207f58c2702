/**
 * The actors the chaos suite drives, loaded by `praas start --actors`.
 * `add(n)` returns the new value, so every acknowledged add names the value it
 * produced — what the history checker (history.ts) needs to order calls.
 */
import { Actor } from "@praas/silo";

interface CounterState {
  value: number;
}

function checkAmount(n: unknown): number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n <= 0) {
    throw new RangeError(`add() needs a positive integer, got ${JSON.stringify(n)}`);
  }
  return n;
}

/** Idle timeout of the soak's types: short, so keys are swapped out and reactivated all the time. */
export const SOAK_IDLE_TIMEOUT_MS = 1_000;

/** A counter whose every turn is stored before the call is acknowledged. */
export class ChaosCounter extends Actor<CounterState> {
  static persistence = "turn" as const;

  static initialState(): CounterState {
    return { value: 0 };
  }

  add(n: number): number {
    this.state.value += checkAmount(n);
    return this.state.value;
  }

  get(): number {
    return this.state.value;
  }
}

/** The soak's "turn" counter: swapped out after one idle second. */
export class SoakCounter extends ChaosCounter {
  static idleTimeoutMs = SOAK_IDLE_TIMEOUT_MS;
}

/**
 * The soak's counter with the default persistence ("deactivate": stored when
 * swapped out or on a graceful stop), swapped out after one idle second.
 * Without a crash it must lose nothing either.
 */
export class LazyCounter extends Actor<CounterState> {
  static idleTimeoutMs = SOAK_IDLE_TIMEOUT_MS;

  static initialState(): CounterState {
    return { value: 0 };
  }

  add(n: number): number {
    this.state.value += checkAmount(n);
    return this.state.value;
  }

  get(): number {
    return this.state.value;
  }
}
