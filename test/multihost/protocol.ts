/**
 * How the runner (in the machine's own namespace, on no network) talks to its
 * agents (one per host, inside the namespaces): JSON lines over the agent's
 * stdin and stdout. Pipes are not network traffic, so a partition never cuts
 * the runner from an agent. Lines the agent writes for the runner start with
 * `@mh ` (anything else on stdout is logged, not parsed).
 */
import type { Op } from "#chaos/history.js";
import type { CounterKey } from "#chaos/load.js";

export const LINE_PREFIX = "@mh ";

/** The clock every process of a run shares: CLOCK_MONOTONIC (system-wide on Linux), in ms since `base`. */
export function sharedClock(base: bigint): () => number {
  return () => Number(process.hrtime.bigint() - base) / 1e6;
}

/** A gateway the agent calls through. */
export interface GatewaySpec {
  readonly name: string;
  readonly wsUrl: string;
  readonly httpUrl: string;
  /**
   * Call it whatever its /readyz says (a client on the silo's own host that
   * never asks), instead of only while it answers 200 (a load balancer).
   */
  readonly ignoreReadiness?: boolean;
}

export interface InitArgs {
  /** "load": the load generator's host (gateways over the network, Redis and S3 queries); "local": a silo's host. */
  readonly role: "load" | "local";
  /** The shared clock's origin (process.hrtime.bigint() of the runner, as a decimal string). */
  readonly base: string;
  readonly token: string;
  /** Local role: the silo's gateway on loopback, polled for /readyz and /v1/cluster. */
  readonly silo?: { readonly name: string; readonly httpUrl: string };
  /** Load role: where Redis membership and S3 state are. */
  readonly cluster?: string;
  readonly redisUrl?: string;
  readonly s3?: {
    readonly endpoint: string;
    readonly region: string;
    readonly bucket: string;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  };
}

export interface LoadArgs {
  readonly keys: readonly CounterKey[];
  readonly workers: number;
  readonly ratePerSec: number;
  readonly readFraction: number;
  readonly retryEvery: number;
  readonly callTimeoutMs: number;
  readonly seed: number;
}

/** Requests, by command: its arguments and its result. */
export interface Commands {
  init: { args: InitArgs; result: { pid: number } };
  gateways: { args: { list: readonly GatewaySpec[] }; result: { connected: string[] } };
  /** Take a gateway out of the load balancer (or put it back). */
  down: { args: { name: string; down: boolean }; result: null };
  createBucket: { args: Record<string, never>; result: null };
  startLoad: { args: LoadArgs; result: null };
  /** Read every key until served (bounded), so recovery is measured without waiting for the random load. */
  probe: { args: { boundMs: number }; result: null };
  /** Has every key recovered from a fault at `since` (and no call failed for `stableMs`)? */
  recovered: {
    args: { since: number; stableMs: number };
    result: { recovered: boolean; notRecovered: number; lastFailure: number };
  };
  /** Stop the load (calls in flight finish, each bounded by its deadline). */
  stopLoad: {
    args: Record<string, never>;
    result: { logical: { calls: number; failed: number; retried: number } };
  };
  /** Read every key through every usable gateway (recorded in the history). */
  finalReads: {
    args: { keys: readonly CounterKey[] };
    result: Record<string, { via: string; value: number }[]>;
  };
  /** Each key's value straight from the state store, S3 or Redis (0 when nothing is stored). */
  storeValues: { args: { keys: readonly CounterKey[]; store: "s3" | "redis" }; result: Record<string, number> };
  /** Ids the membership in Redis holds as active (undefined: Redis did not answer). */
  redisActive: { args: Record<string, never>; result: string[] | null };
  /** Where each key is active now (GET /v1/actors/T/k through a usable gateway): silo id, or null. */
  locate: { args: { keys: readonly CounterKey[] }; result: Record<string, string | null> };
  /** Sum of a counter in the own silo's /metrics (local role). */
  metric: { args: { name: string; filter: string }; result: number | null };
  /** Can a TCP connection to host:port be opened within ms? (Checks that a cut cuts.) */
  canConnect: { args: { host: string; port: number; ms: number }; result: boolean };
  /** Write the history (every call so far) to `file`; the load must be stopped. */
  dump: { args: { file: string }; result: { ops: number } };
}

export type CommandName = keyof Commands;

export interface Request<C extends CommandName = CommandName> {
  readonly id: number;
  readonly cmd: C;
  readonly args: Commands[C]["args"];
}

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** What a silo's host sees of it over loopback (a kubelet's view), sent whenever it changes. */
export interface LocalView {
  readonly kind: "local";
  readonly t: number;
  readonly silo: string;
  /** /readyz status (0: no answer). */
  readonly readyz: number;
  /** /readyz body's reason, when it gave one. */
  readonly reason: string | undefined;
  /** /v1/cluster: the silo's own id, whether it serves, and the ids it lists as active. */
  readonly self: string | undefined;
  readonly serving: boolean | undefined;
  readonly active: readonly string[];
}

/** The load balancer's readiness view of one gateway, sent whenever it changes. */
export interface LbView {
  readonly kind: "lb";
  readonly t: number;
  readonly gateway: string;
  readonly ready: boolean;
}

export type AgentEvent = LocalView | LbView;

/** An op as written by `dump` (JSON drops `end`/`outcome` while unset). */
export type OpJson = Omit<Op, "end" | "outcome"> & Partial<Pick<Op, "end" | "outcome">>;
