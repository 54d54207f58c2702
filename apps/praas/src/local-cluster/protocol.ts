/**
 * Messages between `praas start --silos N` (the parent: supervisor and
 * membership coordinator) and its silo processes, over Node's IPC channel.
 * The channel is private to the two processes, so nothing here is authenticated.
 */
import type { MembershipView, SiloInfo } from "@praas/core/internal";
import type { StartConfig } from "../config.js";

/** How the parent judges its children (the defaults of the other membership providers). */
export interface LocalTimings {
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
}

/** Parent → child. */
export type ToChild =
  /** First message: what to start. `membership` absent: the child joins the configured Redis cluster. */
  | {
      readonly t: "init";
      readonly index: number;
      readonly config: StartConfig;
      readonly membership?: { readonly secret: string; readonly timings: LocalTimings };
    }
  | { readonly t: "joined"; readonly view: MembershipView }
  | { readonly t: "join-failed"; readonly message: string }
  | { readonly t: "ack"; readonly seq: number }
  | { readonly t: "view"; readonly view: MembershipView }
  | { readonly t: "evicted"; readonly reason: string }
  | { readonly t: "left" }
  /** Drain and exit (the parent is shutting down). */
  | { readonly t: "stop" };

/** Child → parent. */
export type ToParent =
  | { readonly t: "join"; readonly self: Omit<SiloInfo, "status"> }
  | { readonly t: "beat"; readonly id: string; readonly seq: number }
  | { readonly t: "leave"; readonly id: string }
  /** Serving: its gateway's addresses, for the banner. */
  | { readonly t: "ready"; readonly siloId: string; readonly wsUrl: string; readonly url: string }
  /** Could not start (bad settings): the parent stops everything instead of restarting it for ever. */
  | { readonly t: "fatal"; readonly message: string; readonly exitCode: number };
