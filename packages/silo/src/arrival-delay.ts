/**
 * How late a call arrives, without synchronized clocks: on a client's
 * WebSocket (gateway/connection.ts) and on a connection from another silo
 * (cluster/peer-connection.ts).
 *
 * The sender stamps each call with `sent`: its own monotonic clock, in ms,
 * when the call was made (or forwarded). Arrival time (ours) minus `sent` (theirs)
 * is the clocks' offset plus the frame's delay; the smallest such difference
 * seen on a connection is the offset plus the fastest delay. So a frame's
 * difference above that minimum is how much later than the fastest frame it
 * came: a frame held in a TCP send queue or retransmitted after a partition
 * shows its full wait there, whatever the two clocks read.
 *
 * The minimum creeps up by {@link CREEP} of the time since it was set, so
 * that a client clock running slower than ours (drift, at most tens of ppm on
 * real hardware) can never make frames look late: the estimate errs towards
 * "on time". A stall of 10 s is still seen as 9.9 s.
 *
 * Only the connection's own frames are compared, so a sender that lies about
 * `sent` can only get its own calls refused (or let through as before).
 */
export const CREEP = 0.01;

/**
 * A frame counts as late only beyond its deadline plus this much: browsers may
 * coarsen `performance.now()` (to 100 ms with fingerprinting protection), and
 * a frame must never be refused while its caller still waits for it. The
 * frames this is for arrive seconds late.
 */
export const LATE_SLACK_MS = 100;

export class ArrivalDelay {
  /** Smallest arrival − sent so far (undefined before the first stamped frame). */
  #base: number | undefined;
  /** When (our clock) the minimum was last set. */
  #baseAt = 0;

  /**
   * How many ms later than the connection's fastest frame this one arrived
   * (0 for a frame as fast, or faster: it becomes the new reference).
   */
  lateness(sent: number, now: number): number {
    const delta = now - sent;
    const base = this.#base === undefined ? undefined : this.#base + (now - this.#baseAt) * CREEP;
    if (base === undefined || delta <= base) {
      this.#base = delta;
      this.#baseAt = now;
      return 0;
    }
    return delta - base;
  }

  /**
   * Why a call stamped `sent` must not run — it arrived more than its
   * deadline (plus {@link LATE_SLACK_MS}) after it was sent — or undefined
   * while it is on time. `what` names the call for the message.
   */
  refusal(sent: number, now: number, deadlineMs: number, what: string): string | undefined {
    const late = this.lateness(sent, now);
    if (!(late > deadlineMs + LATE_SLACK_MS)) return undefined;
    return `${what} arrived ${Math.round(late)} ms after it was sent, past its ${deadlineMs} ms deadline; not run`;
  }
}
