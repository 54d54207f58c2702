/**
 * Where a call goes: to this silo's activation table, or over the transport
 * to the silo the ring names. Also takes calls arriving from peers, checks
 * them and hands them to the silo, and decides what happens to calls that
 * came back unrun.
 *
 * Rules:
 * - A call for a key this silo does not own is forwarded, at most `maxHops`
 *   times; past that it is refused as not run (membership views disagree
 *   for a moment, and the caller can simply send it again).
 * - A forwarded call is never sent back to the silo it came from: that silo
 *   just said it does not own the key, and it is the authority on that (it
 *   is typically draining, or has just handed the key over). It runs here.
 * - A call that comes back "not run" is sent again by its origin, after a
 *   short growing pause, within its deadline. A call that may have run is
 *   never resent here; see retry.ts for the per-call opt-in.
 */
import {
  actorIdString,
  assertEncodable,
  assertEncodableArgs,
  type Clock,
  type DeadlineQueue,
  type PraasError,
  type RetryPolicy,
  retryDelay,
  SiloUnavailableError,
  serializeError,
  TimeoutError,
  validateKey,
} from "@praas/core/internal";
import type { Call, CallObserver } from "../call.js";
import { inCallContext, traceHop, traceInbound } from "../tracing.js";
import type { CallEnvelope } from "./frames.js";
import { InboundCall } from "./inbound-call.js";
import type { OutboundCall, PeerConnection } from "./peer-connection.js";
import type { Placement } from "./placement.js";
import { RemoteRequest, type RemoteRequestHost } from "./remote-request.js";
import { OutboundSiloRequest, SiloRequestNotHandledError, wrongSilo } from "./silo-request.js";

/** What the router needs from the silo. */
export interface RouterHost {
  readonly clock: Clock;
  readonly deadlines: DeadlineQueue;
  observer(): CallObserver | undefined;
  /**
   * May `type.method` be called from another silo, and may it interleave?
   * Throws ActorTypeNotFoundError / MethodNotFoundError otherwise.
   */
  inboundInterleave(type: string, method: string): boolean;
  /** Stateless worker types are served where they are called and never routed. */
  isStateless(type: string): boolean;
  /** Route `call` as if it had just been made on this silo. */
  dispatch(call: Call): void;
  /** Answer a request addressed to this silo itself (silo-request.ts); none: refused. */
  answerSiloRequest?(method: string, args: readonly unknown[]): Promise<unknown>;
}

/** How the router sends a call to a peer. */
export interface RouterTransport {
  send(peerId: string, call: OutboundCall): void;
}

/** Resends of a call refused as not run, before giving up. */
const MAX_NOT_RUN_RESENDS = 10;
/** Pause before a resend: 5 ms, doubling, at most 250 ms, no jitter (the call's own timing already varies). */
const NOT_RUN_RESEND: RetryPolicy = { initialDelayMs: 5, maxDelayMs: 250, jitter: "none" };

export class Router implements RemoteRequestHost {
  readonly #host: RouterHost;
  readonly #placement: Placement;
  readonly #transport: RouterTransport;
  readonly #maxHops: number;
  readonly #resends = new WeakMap<Call, number>();
  /** True while this silo drains: it hosts nothing new, so it never keeps a forwarded call. */
  draining = false;
  closed = false;

  constructor(host: RouterHost, placement: Placement, transport: RouterTransport, maxHops: number) {
    this.#host = host;
    this.#placement = placement;
    this.#transport = transport;
    this.#maxHops = maxHops;
  }

  /**
   * For a call with no activation here: true if it was sent elsewhere (or
   * refused), false if this silo should host it.
   */
  routeAway(call: Call): boolean {
    const owner = this.#placement.owner(call.idString);
    if (owner === this.#placement.selfId) return false;
    if (this.#host.isStateless(call.type)) return false;
    let hops = 0;
    if (call instanceof InboundCall) {
      if (owner === call.origin.peerId && !this.draining) return false;
      if (call.hops >= this.#maxHops) {
        this.notRun(
          call,
          new SiloUnavailableError(
            `${call.idString} was forwarded ${call.hops} times without reaching its owner (silos disagree on membership for a moment); send it again`,
          ),
        );
        return true;
      }
      hops = call.hops + 1;
    }
    if (owner === undefined) {
      this.notRun(call, new SiloUnavailableError(`No active silo can host ${call.idString} now`));
      return true;
    }
    this.#transport.send(owner, new RemoteRequest(call, hops, this, traceHop(call, owner)));
    return true;
  }

  /** A call from a peer: check it, then route it like a local one. */
  onCall(conn: PeerConnection, env: CallEnvelope): void {
    const [, id, type, key, method, args, timeoutMs, chain, hops] = env;
    let interleave: boolean;
    try {
      interleave = this.#host.inboundInterleave(type, method);
      validateKey(key);
      assertEncodableArgs(args, `arguments of ${type}.${method}`);
    } catch (err) {
      conn.replyError(id, serializeError(err), true);
      return;
    }
    const host = this.#host;
    const observer = host.observer();
    const timeout = quantizeTimeout(timeoutMs);
    const call = new InboundCall(
      actorIdString(type, key),
      type,
      key,
      method,
      args,
      chain,
      interleave,
      timeout,
      host.deadlines,
      observer,
      observer === undefined ? 0 : performance.now(),
      conn,
      id,
      hops,
    );
    traceInbound(call, env, this.#placement.selfId);
    host.deadlines.add(call, timeout);
    if (call.trace === undefined) host.dispatch(call);
    else dispatchTraced(host, call);
  }

  /** A silo request (silo-request.ts) a peer addressed to `siloId`: answered here if that is this silo. */
  answerSiloRequest(
    conn: PeerConnection,
    id: number,
    siloId: string,
    method: string,
    args: unknown[],
    timeoutMs: number,
  ): void {
    // Meant for another incarnation, or nobody here answers it: refused before anything ran.
    if (siloId !== this.#placement.selfId) {
      conn.replyError(id, serializeError(wrongSilo(siloId, this.#placement.selfId)), true);
      return;
    }
    const answer = this.#host.answerSiloRequest?.(method, args);
    if (answer === undefined) {
      conn.replyError(id, serializeError(new SiloRequestNotHandledError(method)), true);
      return;
    }
    // A handler that never settles must not hold the connection's drain: answered by the asker's deadline.
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      conn.replyError(id, serializeError(new TimeoutError(`Silo request ${method} took over ${timeoutMs} ms`)), false);
    }, timeoutMs);
    timer.unref();
    answer
      .then((value) => {
        if (settled) return;
        // Checked here: frames are encoded trusting their values, and one bad value would sink the frame.
        assertEncodable(value, `answer to silo request ${method}`);
        conn.reply(id, value);
      })
      .catch((err: unknown) => {
        if (!settled) conn.replyError(id, serializeError(err), err instanceof SiloRequestNotHandledError);
      })
      .finally(() => {
        settled = true;
        clearTimeout(timer);
      });
  }

  /** No actor ran `call`: tell the origin so, or (at the origin) send it again shortly. */
  notRun(call: Call, error: PraasError): void {
    if (call instanceof InboundCall) {
      call.notRun = true;
      call.reject(error);
      return;
    }
    const n = (this.#resends.get(call) ?? 0) + 1;
    if (n > MAX_NOT_RUN_RESENDS || this.closed || call.done) {
      call.reject(error);
      return;
    }
    this.#resends.set(call, n);
    this.#host.clock.setTimeout(() => this.#host.dispatch(call), retryDelay(NOT_RUN_RESEND, n), true);
  }

  /** A call that never left, whose peer is gone: the ring names its new owner. */
  reroute(request: OutboundCall): void {
    if (request instanceof OutboundSiloRequest) {
      request.refused(new SiloUnavailableError(`Silo ${request.key} is gone`));
      return;
    }
    const call = (request as RemoteRequest).call;
    if (this.closed) request.refused(new SiloUnavailableError("This silo is shutting down"));
    else this.#host.dispatch(call);
  }
}

/** Dispatch in the call's trace context (outside onCall: a closure there would cost every call). */
function dispatchTraced(host: { dispatch(call: Call): void }, call: Call): void {
  inCallContext(call, () => host.dispatch(call));
}

/**
 * What is left of a caller's deadline, rounded down to 16 steps per power of
 * two (at most 6 % early). The deadline queue keeps one list per distinct
 * timeout length, and remaining times are all different: rounding keeps the
 * lists few (≈ 16 per octave) while the callee still gives up before the caller.
 */
export function quantizeTimeout(ms: number): number {
  if (ms <= 64) return Math.max(1, Math.floor(ms));
  const step = 2 ** (Math.floor(Math.log2(ms)) - 4);
  return Math.floor(ms / step) * step;
}
