/**
 * The callback bags the silo hands its parts — what an activation, the
 * cluster runtime and the reminder service each need from their silo — built
 * from the silo's components, so that silo.ts keeps only its public API. Each
 * bag is made once per silo; on a call's way nothing here runs beyond the one
 * callback invoked.
 */
import type { EventEmitter } from "node:events";
import {
  type ActorClass,
  ActorTypeNotFoundError,
  actorIdString,
  type CallOptions,
  type DeadlineQueue,
  isControlMethod,
  type LogLevel,
  MethodNotFoundError,
  SYSTEM_METHODS,
} from "@praas/core/internal";
import type { Activation, ActivationHost, FailureKind } from "./activation.js";
import type { ActivationTable } from "./activation-table.js";
import type { SiloClusterHost } from "./cluster/cluster.js";
import type { SiloRequests } from "./cluster/silo-request.js";
import type { ActivationCollector } from "./collector.js";
import type { CallDispatcher } from "./dispatch.js";
import type { Messaging } from "./messaging.js";
import type { ResolvedSiloOptions } from "./options.js";
import type { ActorRegistry } from "./registry.js";
import type { ReminderHost, ReminderService } from "./reminders.js";
import { servingStore } from "./serving-store.js";
import type { SiloEvents } from "./silo.js";
import type { Subscriptions } from "./subscriptions.js";
import { tracedStore, traceReminder } from "./tracing.js";

/** What the adapters need from their silo: its components, and the few things only the silo itself does. */
export interface WiringHost {
  readonly options: ResolvedSiloOptions;
  readonly registry: ActorRegistry;
  readonly table: ActivationTable;
  readonly deadlines: DeadlineQueue;
  readonly subscriptions: Subscriptions;
  readonly collector: ActivationCollector;
  readonly siloRequests: SiloRequests;
  /**
   * Built after the activation context (it needs the context): the context
   * reads it when a callback runs; the cluster and reminder hosts, made later, once.
   */
  readonly dispatcher: CallDispatcher;
  readonly messaging: Messaging;
  readonly reminders: ReminderService;
  /** The silo, for its events. */
  readonly events: EventEmitter<SiloEvents>;
  readonly siloId: string;
  makeRef(cls: ActorClass, key: string, options: CallOptions | undefined, caller: Activation | undefined): unknown;
  log(level: LogLevel, message: string, actor?: string, error?: unknown): void;
  /** A failure with no caller to tell: a `failure` event and one log line. */
  fail(kind: FailureKind, actor: string, error: unknown): void;
  stop(): Promise<unknown>;
}

/** What every activation of the silo is given. */
export function activationContext(host: WiringHost): ActivationHost {
  const { options, events } = host;
  let turns = 0;
  const inCluster = options.cluster !== undefined;
  // An embedded single silo always serves: no lookup at all on its hot path.
  const servingError = inCluster ? () => host.dispatcher.cluster?.servingError() : alwaysServing;
  const store = tracedStore(options.storage, () => host.siloId);
  return {
    servingError,
    // In a cluster no write leaves while the silo is not serving (serving-store.ts).
    store: inCluster ? servingStore(store, servingError) : store,
    clock: options.clock,
    nextTurnId: () => ++turns,
    makeRef: (cls, key, refOptions, caller) => host.makeRef(cls, key, refOptions, caller),
    dispatch: (call) => host.dispatcher.dispatch(call),
    deadlines: host.deadlines,
    callTimeoutMs: options.callTimeoutMs,
    send: (from, target, channel, data, sendOptions) =>
      host.messaging.send(from.idString, target, channel, data, sendOptions),
    remind: (a, name, schedule) => host.reminders.register(a.id, name, schedule),
    forget: (a, name) => host.reminders.forget(a.id, name),
    release: (a) => host.table.remove(a),
    activated: (a) => events.emit("activate", a.id),
    deactivated: (a, reason) => events.emit("deactivate", a.id, reason),
    emit: (a, event, payload) => host.subscriptions.emit(a.idString, event, payload),
    subscriberCount: (a, event) => host.subscriptions.count(a.idString, event),
    report: (kind, actor, error) => {
      if (events.listenerCount("failure") > 0) events.emit("failure", { kind, actor, error });
    },
    log: (level, message, actor, error) => host.log(level, message, actor, error),
    stuckTurnGraceMs: options.stuckTurnGraceMs,
    leaving: (delta) => host.collector.leaving(delta),
    retryLater: (a, reason) => host.collector.retryLater(a, reason),
  };
}

/** What the cluster runtime (cluster/cluster.ts, cluster/node.ts) needs from the silo. */
export function clusterHost(host: WiringHost): SiloClusterHost {
  // Made at start, when the dispatcher exists: read it once, not on every inbound call.
  const { registry, events, dispatcher } = host;
  return {
    clock: host.options.clock,
    log: (level, message) => host.log(level, message),
    deadlines: host.deadlines,
    observer: () => dispatcher.observer,
    inboundInterleave: (type, method) => {
      const info = registry.get(type);
      // Stateless workers run where they are invoked; no peer may address one.
      if (info === undefined || info.stateless) throw new ActorTypeNotFoundError(type);
      // System calls interleave as the silo makes them: deliveries do, reminder firings do not.
      if (method === SYSTEM_METHODS.deliver || isControlMethod(method)) return true;
      if (method === SYSTEM_METHODS.remind) return false;
      if (!info.methods.has(method)) throw new MethodNotFoundError(type, method);
      return info.reentrant || info.interleave.has(method);
    },
    isStateless: (type) => registry.get(type)?.stateless === true,
    dispatch: (call) => dispatcher.dispatch(call),
    answerSiloRequest: (method, args) => host.siloRequests.answer(method, args),
    activations: () => host.table.values(),
    report: (what, error) => host.fail("deactivate", what, error),
    viewChanged: () => {
      // Reminders of actors this silo now owns (say, a dead silo's) are scheduled at once,
      // not at the next periodic refresh.
      host.reminders.refresh().catch((err) => host.fail("reminder", "(reminders)", err));
    },
    evicted: (reason) => {
      if (events.listenerCount("evicted") > 0) events.emit("evicted", reason);
    },
    forget: (a) => host.table.remove(a),
    rejoined: (siloId, previousId) => {
      if (events.listenerCount("rejoined") > 0) events.emit("rejoined", siloId, previousId);
    },
    leaseLost: () => host.options.storage.abandonWrites?.(),
    gaveUp: (error) => {
      if (events.listenerCount("membershipLost") > 0) events.emit("membershipLost", error);
      host.stop().catch((err) => host.fail("deactivate", host.siloId, err));
    },
  };
}

/** What the reminder service needs from the silo: ownership, and firing as a system call. */
export function reminderHost(host: WiringHost): ReminderHost {
  const { dispatcher } = host;
  return {
    clock: host.options.clock,
    owns: (actor) => {
      // A single silo owns everything.
      const cluster = dispatcher.cluster;
      return cluster === undefined || cluster.owns(actorIdString(actor.type, actor.key));
    },
    fire: async (actor, name, firing) => {
      await traceReminder(actor, name, host.siloId, () =>
        dispatcher.systemCall(actor, SYSTEM_METHODS.remind, [name, firing], false),
      );
    },
    report: (actor, error) => host.fail("reminder", actor, error),
  };
}

function alwaysServing(): undefined {
  return undefined;
}
