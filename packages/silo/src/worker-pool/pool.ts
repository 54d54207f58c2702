import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import {
  type Clock,
  type DeadlineQueue,
  Deque,
  decode,
  deserializeError,
  encodeTrusted,
  isSerializedError,
  QueuedDeadline,
  SiloStoppedError,
  TimeoutError,
} from "@praas/core/internal";
import type { CallObserver } from "../call.js";
import { WorkerCrashedError } from "./errors.js";
import type { ReplyMessage, RunMessage } from "./protocol.js";
import type { ThreadedType } from "./settings.js";

/** Threads a silo's pool gets by default: the cores left after the event loop's, at least one. */
export function defaultPoolSize(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * The compiled thread program. Tests load this module from source (.ts), but
 * a thread runs plain Node (20 has no type stripping), so from source we
 * point at the build output beside it — `tsc -b` runs before the tests.
 */
function entryUrl(): URL {
  const here = import.meta.url;
  return here.endsWith(".ts")
    ? new URL("../../dist/worker-pool/worker-entry.js", here)
    : new URL("./worker-entry.js", here);
}

/**
 * The thread's Node flags: the process's, minus export conditions. A test
 * runner resolves packages to their TypeScript source (`--conditions
 * source`), which a thread running plain Node cannot load.
 */
function threadExecArgv(): string[] | undefined {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "--conditions" || a === "-C") i++;
    else if (!a.startsWith("--conditions=") && !a.startsWith("-C=")) out.push(a);
  }
  // Unchanged: let Node inherit them, skipping the flags a thread may not take (--expose-gc…).
  return out.length === argv.length ? undefined : out;
}

export interface WorkerPoolOptions {
  readonly size: number;
  readonly clock: Clock;
  /** The silo's deadline queue: one timer for every deadline, threaded calls included. */
  readonly deadlines: DeadlineQueue;
  readonly observer: () => CallObserver | undefined;
}

/** One call on its way through the pool. */
class Job extends QueuedDeadline {
  thread: Thread | undefined = undefined;
  done = false;
  readonly promise: Promise<unknown>;
  resolve!: (value: unknown) => void;
  reject!: (reason: unknown) => void;

  constructor(
    readonly pool: WorkerPool,
    readonly id: number,
    readonly type: ThreadedType,
    readonly key: string,
    readonly method: string,
    readonly args: Uint8Array,
    readonly timeoutMs: number,
    readonly queuedAt: number,
  ) {
    super();
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  expire(reason?: unknown): void {
    this.pool.expired(this, reason);
  }
}

/** One worker thread and the call it runs (at most one: a CPU-bound call owns its core). */
class Thread {
  job: Job | undefined = undefined;
  /** Set when the pool ends this thread itself (deadline, stop): its exit is no crash. */
  retired = false;
  constructor(
    readonly worker: Worker,
    readonly index: number,
  ) {}
}

/**
 * A silo's worker threads for `static threads` types. Calls queue in order
 * and each idle thread takes the next; a thread is started when a call finds
 * none idle and the pool is below its size, so a silo that never calls a
 * threaded type starts none. Idle threads do not keep the process alive.
 *
 * Deadlines: a call still queued at its deadline is cancelled (it never ran);
 * one still running is stopped by terminating its thread, which a fresh
 * thread replaces — JavaScript cannot interrupt a running function any other
 * way, and a CPU-bound call left running would hold its core for nothing. A
 * thread that dies by itself fails its call with WorkerCrashedError and is
 * replaced the same way.
 */
export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  readonly #queue = new Deque<Job>();
  readonly #threads = new Set<Thread>();
  readonly #idle: Thread[] = [];
  readonly #exited = new Map<Thread, Promise<void>>();
  #nextJob = 0;
  #nextThread = 0;
  #closed: SiloStoppedError | undefined;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#options.size;
  }

  /** Threads alive now (started lazily, replaced after a crash or a deadline). */
  get threadCount(): number {
    return this.#threads.size;
  }

  /** Calls waiting for a thread (including cancelled ones not yet skipped). */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Run `type.method(...args)` on a thread. `args` were checked encodable by
   * the caller (the silo checks every call's arguments before dispatch).
   */
  run(type: ThreadedType, key: string, method: string, args: readonly unknown[], timeoutMs: number): Promise<unknown> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    const now = this.#options.clock.now();
    // A copy in its own buffer (transferred to the thread, not cloned): the codec's output is a view of its reused buffer.
    const job = new Job(
      this,
      ++this.#nextJob,
      type,
      type.keyed ? key : "",
      method,
      new Uint8Array(encodeTrusted(args)),
      timeoutMs,
      now,
    );
    this.#options.deadlines.add(job, timeoutMs, now);
    const observer = this.#options.observer();
    if (observer !== undefined) this.#observe(job, observer, performance.now());
    this.#queue.push(job);
    this.#pump();
    return job.promise;
  }

  /**
   * Stop: queued calls fail with SiloStoppedError at once; running ones get
   * `graceMs` to finish, then their threads are terminated and they fail the same way.
   */
  async close(graceMs: number): Promise<void> {
    if (this.#closed !== undefined) return;
    const stopped = new SiloStoppedError();
    this.#closed = stopped;
    for (let job = this.#queue.shift(); job !== undefined; job = this.#queue.shift()) this.#settle(job, stopped);
    const running = [...this.#threads].flatMap((t) => (t.job === undefined ? [] : [t.job.promise.catch(() => {})]));
    if (running.length > 0) {
      const grace = new Promise<void>((resolve) => {
        const timer = this.#options.clock.setTimeout(resolve, graceMs, true);
        void Promise.all(running).then(() => {
          timer.cancel();
          resolve();
        });
      });
      await grace;
    }
    for (const t of [...this.#threads]) this.#retire(t, new SiloStoppedError());
    await Promise.all(this.#exited.values());
  }

  /** @internal A job's deadline passed (or the deadline queue closed with `reason`). */
  expired(job: Job, reason: unknown): void {
    if (job.done) return;
    const thread = job.thread;
    if (thread === undefined) {
      // It stays in the queue, done: #pump skips it (removal from the middle would cost a scan).
      const waited = Math.round(this.#options.clock.now() - job.queuedAt);
      this.#settle(
        job,
        reason ??
          new TimeoutError(
            `Call ${job.type.name}.${job.method} cancelled at its ${job.timeoutMs} ms deadline: it waited ${waited} ms for a worker thread and never ran`,
          ),
      );
      return;
    }
    this.#retire(
      thread,
      reason ??
        new TimeoutError(
          `Call ${job.type.name}.${job.method} stopped at its ${job.timeoutMs} ms deadline: it was still running, so its worker thread was terminated (a fresh one replaces it)`,
        ),
    );
    this.#pump();
  }

  /** Give queued calls to idle threads, starting threads while below the pool's size. */
  #pump(): void {
    while (this.#queue.length > 0) {
      const next = this.#queue.peek() as Job;
      if (next.done) {
        this.#queue.shift();
        continue;
      }
      let thread = this.#idle.pop();
      if (thread === undefined) {
        if (this.#threads.size >= this.#options.size || this.#closed !== undefined) return;
        try {
          thread = this.#spawn();
        } catch (err) {
          // No thread can start (bad flags, out of resources): the call says why; the silo serves on.
          this.#queue.shift();
          this.#settle(next, new WorkerCrashedError(next.type.name, next.method, `could not start: ${String(err)}`));
          continue;
        }
      }
      this.#queue.shift();
      this.#start(thread, next);
    }
  }

  #start(thread: Thread, job: Job): void {
    job.thread = thread;
    thread.job = job;
    // A busy thread keeps the process alive (the caller awaits it); an idle one does not.
    thread.worker.ref();
    const msg: RunMessage = {
      id: job.id,
      type: job.type.name,
      key: job.key,
      module: job.type.module,
      exportName: job.type.exportName,
      method: job.method,
      args: job.args,
    };
    thread.worker.postMessage(msg, [job.args.buffer as ArrayBuffer]);
  }

  #spawn(): Thread {
    const worker = new Worker(entryUrl(), { name: `praas-pool-${this.#nextThread}`, execArgv: threadExecArgv() });
    const thread = new Thread(worker, this.#nextThread++);
    this.#threads.add(thread);
    let crash: string | undefined;
    worker.on("message", (reply: ReplyMessage) => this.#reply(thread, reply));
    worker.on("error", (err: Error) => {
      crash = `${err.name}: ${err.message}`;
    });
    this.#exited.set(
      thread,
      new Promise((resolve) => {
        worker.once("exit", (code) => {
          this.#exited.delete(thread);
          this.#gone(thread, crash ?? `exited with code ${code}`);
          resolve();
        });
      }),
    );
    return thread;
  }

  #reply(thread: Thread, reply: ReplyMessage): void {
    const job = thread.job;
    if (job === undefined || job.id !== reply.id || thread.retired) return;
    thread.job = undefined;
    if (reply.ok) {
      try {
        this.#settle(job, undefined, decode(reply.value));
      } catch (err) {
        this.#settle(job, err);
      }
    } else {
      this.#settle(job, rebuildError(reply.error));
    }
    if (this.#closed === undefined) {
      thread.worker.unref();
      this.#idle.push(thread);
      this.#pump();
    }
  }

  /** End `thread` on purpose; its call (if any) fails with `reason`. */
  #retire(thread: Thread, reason: unknown): void {
    if (thread.retired) return;
    thread.retired = true;
    this.#forget(thread);
    const job = thread.job;
    thread.job = undefined;
    if (job !== undefined) this.#settle(job, reason);
    void thread.worker.terminate();
  }

  /** A thread exited: a crash unless the pool retired it. Its call fails; the next call starts a new thread. */
  #gone(thread: Thread, cause: string): void {
    if (thread.retired) return;
    thread.retired = true;
    this.#forget(thread);
    const job = thread.job;
    thread.job = undefined;
    if (job !== undefined) this.#settle(job, new WorkerCrashedError(job.type.name, job.method, cause));
    this.#pump();
  }

  #forget(thread: Thread): void {
    this.#threads.delete(thread);
    const i = this.#idle.indexOf(thread);
    if (i >= 0) this.#idle.splice(i, 1);
  }

  #settle(job: Job, error: unknown, value?: unknown): void {
    if (job.done) return;
    job.done = true;
    this.#options.deadlines.remove(job);
    if (error === undefined) job.resolve(value);
    else job.reject(error);
  }

  #observe(job: Job, observer: CallObserver, startedAt: number): void {
    const report = (error: unknown) => {
      const code = error === undefined ? undefined : String((error as { code?: unknown }).code ?? "ERROR");
      try {
        observer.callCompleted(job.type.name, job.method, performance.now() - startedAt, code);
      } catch {
        // Metrics must never break a call.
      }
    };
    job.promise.then(
      () => report(undefined),
      (err: unknown) => report(err),
    );
  }
}

/** A thread's error reply, rebuilt as the caller's typed error (framework classes as themselves). */
function rebuildError(bytes: Uint8Array): Error {
  const e = decode(bytes);
  if (!isSerializedError(e)) return new TypeError("A worker thread sent a malformed error");
  return deserializeError(e);
}
