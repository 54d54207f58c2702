/**
 * The program of one worker thread: import threaded actor classes on demand,
 * keep one instance per type, and run the calls the pool sends, one at a time.
 */
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort } from "node:worker_threads";
import {
  type ActorClass,
  type ActorHost,
  assertEncodable,
  constructActor,
  decode,
  encode,
  encodeTrusted,
  InvalidArgumentError,
  PraasError,
  serializeError,
} from "@praas/core/internal";
import type { ReplyMessage, RunMessage } from "./protocol.js";

/** What a threaded actor may not do: everything that needs the silo, which lives on the event loop. */
class NotOnThreadError extends PraasError {
  constructor(what: string) {
    super("NOT_ON_THREAD", `${what} is not available to an actor running on a worker thread`);
  }
}

const port = parentPort;
if (port === null) throw new Error("worker-entry.js runs only as a worker thread of the silo's pool");

/** OS niceness of a pool thread: below the event loop's, so that it wins a core they both want. */
const THREAD_NICENESS = 10;

/**
 * Lower this thread's scheduling priority (Linux: a thread is a task with its
 * own id, found through /proc/thread-self). Best effort: elsewhere, or
 * without permission, the thread runs at the process's priority.
 */
function yieldToEventLoop(): void {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, THREAD_NICENESS);
  } catch {
    // Not Linux, or not allowed: nothing to do.
  }
}
yieldToEventLoop();

/** An instance and its host: the host's id is set to each call's key before the call runs. */
interface Hosted {
  readonly instance: Record<string, unknown>;
  readonly host: { id: { type: string; key: string } };
}

/** One instance per type in this thread, created (and `onActivate`d) at its first call. */
const instances = new Map<string, Promise<Hosted>>();

function instanceOf(msg: RunMessage): Promise<Hosted> {
  let p = instances.get(msg.type);
  if (p === undefined) {
    p = create(msg);
    instances.set(msg.type, p);
    // A failed import is reported to this call and tried again by the next one.
    p.catch(() => instances.delete(msg.type));
  }
  return p;
}

async function create(msg: RunMessage): Promise<Hosted> {
  const mod = (await import(msg.module)) as Record<string, unknown>;
  const cls = findClass(mod, msg);
  const unavailable = (what: string) => () => {
    throw new NotOnThreadError(what);
  };
  const host: ActorHost & Hosted["host"] = {
    id: { type: msg.type, key: msg.key },
    // A keyed actor's state lives on the event loop: a threaded method reading it is a bug, said so.
    get state(): unknown {
      throw new NotOnThreadError("this.state");
    },
    set state(_value: unknown) {
      throw new NotOnThreadError("this.state");
    },
    ref: unavailable("ref()"),
    setTimer: unavailable("setTimer()"),
    saveState: unavailable("saveState()"),
    emit: unavailable("emit()"),
    subscriberCount: unavailable("subscriberCount()"),
    send: unavailable("send()"),
    recv: unavailable("recv()"),
    remind: unavailable("remind()"),
    forget: unavailable("forget()"),
  };
  const instance = constructActor(cls as never, host) as unknown as Record<string, unknown> & {
    onActivate(): unknown;
  };
  await instance.onActivate();
  return { instance, host };
}

function findClass(mod: Record<string, unknown>, msg: RunMessage): ActorClass {
  if (msg.exportName !== undefined) {
    const cls = mod[msg.exportName];
    if (typeof cls === "function") return cls as ActorClass;
    throw new InvalidArgumentError(`${msg.module} has no exported class ${JSON.stringify(msg.exportName)}`);
  }
  for (const value of Object.values(mod)) {
    if (typeof value !== "function") continue;
    const cls = value as ActorClass;
    if ((cls.actorType ?? cls.name) === msg.type) return cls;
  }
  throw new InvalidArgumentError(
    `${msg.module} exports no actor class of type ${JSON.stringify(msg.type)}; export it, or name it with threads.export`,
  );
}

async function run(msg: RunMessage): Promise<Uint8Array> {
  const { instance, host } = await instanceOf(msg);
  // One call at a time per thread: the key is this call's until it ends.
  host.id = { type: msg.type, key: msg.key };
  const args = decode(msg.args) as unknown[];
  const fn = instance[msg.method];
  // The event loop checked the method against the class it registered; this one may differ (another file).
  if (typeof fn !== "function")
    throw new InvalidArgumentError(`${msg.type} on ${msg.module} has no method ${msg.method}`);
  const value = await (fn as (...a: unknown[]) => unknown).apply(instance, args);
  assertEncodable(value, `result of ${msg.type}.${msg.method}`);
  return encodeTrusted(value);
}

/**
 * A copy of `bytes` in its own buffer, so it can be transferred instead of
 * cloned. The codec returns a Buffer view into the encoder's reused buffer:
 * transferring that would detach the encoder's memory, and Buffer#slice is
 * a view too, hence the Uint8Array constructor (which copies).
 */
function own(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function encodeError(err: unknown): Uint8Array {
  const serialized = serializeError(err);
  try {
    return encode(serialized);
  } catch {
    // Error data the codec cannot carry is dropped; name, code and message still arrive.
    const { data: _data, ...rest } = serialized;
    return encodeTrusted(rest);
  }
}

port.on("message", (msg: RunMessage) => {
  run(msg).then(
    (value) => {
      const bytes = own(value);
      port.postMessage({ id: msg.id, ok: true, value: bytes } satisfies ReplyMessage, [bytes.buffer as ArrayBuffer]);
    },
    (err: unknown) => {
      const bytes = own(encodeError(err));
      port.postMessage({ id: msg.id, ok: false, error: bytes } satisfies ReplyMessage, [bytes.buffer as ArrayBuffer]);
    },
  );
});
