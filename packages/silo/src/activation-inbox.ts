/**
 * The inbox step of an activation (PraaS `send`/`recv`): a message arriving
 * for the inbox, and the durable inbox checkpoint. A delivery runs at once,
 * beside any turn (a turn may be waiting in `recv` for exactly this message).
 * A durable message is written to the store — beside the last *stored* state,
 * never the in-memory one a running turn may have half changed — before it is
 * handed on or acknowledged, so an acknowledged durable send survives a crash.
 */
import {
  type ActorId,
  decodeStateRecord,
  encodeStateRecord,
  type InboxMessage,
  InvalidArgumentError,
  StaleActivationError,
} from "@praas/core/internal";
import type { ActivationHost } from "./activation-host.js";
import { toCallerError } from "./activation-reply.js";
import { initialStateOf, type PersistentState } from "./activation-state.js";
import type { Call } from "./call.js";
import { checkMessage, type Inbox } from "./inbox.js";
import type { ActorTypeInfo } from "./registry.js";

/** What the inbox step needs from its activation. */
export interface InboxHost {
  readonly id: ActorId;
  readonly idString: string;
  readonly info: ActorTypeInfo;
  readonly ctx: Pick<ActivationHost, "store">;
  readonly stale: boolean;
  readonly persistence: PersistentState;
  /** Told when a delivery that waited for its checkpoint is over. */
  readonly mailbox: { done(turn: Call): void };
  inboxOrNew(): Inbox;
}

/**
 * Put the message a `deliver` call carries in `a`'s inbox (true: done now;
 * false: the mailbox hears `done` once its checkpoint is written).
 */
export function deliverMessage(a: InboxHost, call: Call): boolean {
  const [raw, durable] = call.args as [unknown, boolean | undefined];
  let message: InboxMessage;
  try {
    message = checkMessage(raw);
  } catch (err) {
    call.reject(err);
    return true;
  }
  const inbox = a.inboxOrNew();
  if (durable !== true) {
    inbox.deliver(message, false);
    call.resolve(undefined);
    return true;
  }
  if (inbox.seen(message.id)) {
    call.resolve(undefined); // a resend of a message already stored: acknowledge, don't deliver twice
    return true;
  }
  if (a.info.persistence === "none") {
    call.reject(
      new InvalidArgumentError(`durable send to ${a.idString}: its type keeps no state (persistence "none")`),
    );
    return true;
  }
  const snapshot = inbox.snapshot();
  snapshot.messages.push(message);
  snapshot.delivered.push(message.id);
  checkpointInbox(a, snapshot.messages, snapshot.delivered).then(
    () => {
      inbox.deliver(message, true);
      call.resolve(undefined);
      a.mailbox.done(call);
    },
    (err) => {
      call.reject(toCallerError(err));
      a.mailbox.done(call);
    },
  );
  return false;
}

/**
 * Store the inbox beside the last *stored* state: read the record, replace its
 * inbox, write it back conditionally. Serialized with the activation's other writes.
 */
function checkpointInbox(a: InboxHost, messages: readonly unknown[], delivered: readonly string[]): Promise<void> {
  const persistence = a.persistence;
  return persistence.enqueue(async () => {
    if (a.stale) throw new StaleActivationError(a.idString);
    const { store } = a.ctx;
    const stored = await store.load(a.id);
    let stateVersion = a.info.stateVersion;
    let state: unknown;
    if (stored !== undefined) {
      const record = decodeStateRecord(stored.data, () => store.describe(a.id));
      stateVersion = record.stateVersion;
      state = record.state;
    } else {
      state = initialStateOf(a.info.cls);
    }
    await persistence.saveFenced(encodeStateRecord({ stateVersion, state, inbox: messages, delivered }));
    // The stored record no longer matches memory; the next persist writes the full state.
    persistence.forgetSavedBytes();
  });
}
