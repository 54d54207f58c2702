/**
 * The child processes of the `remote-call` and `failover` suites, one role
 * per process (argv[2]), driven by IPC messages from the suite:
 *
 * - `silo`: a cluster silo (Redis membership from REDIS_URL/CLUSTER; state in
 *   STATE_DIR if set, else in memory). Commands: members, keys, seq, pipe,
 *   probe/firstSuccessAfter (failover), detect, stop.
 * - `ws-server` / `ws-client`: the raw WebSocket echo baseline.
 *
 * Timing happens inside the child, so IPC never enters a measured figure.
 */
import { HashRing, MemoryStateStore, type StateStore } from "@praas/core/internal";
import { redisMembership } from "@praas/redis";
import { Actor, FileStateStore, Silo } from "@praas/silo";
import { type RawData, WebSocket, WebSocketServer } from "ws";

type Message = Record<string, unknown> & { readonly cmd: string };

const send = (m: unknown): void => {
  process.send?.(m);
};
const nowNs = (): number => Number(process.hrtime.bigint());
/** Answer command `m` (the parent matches answers to commands by id). */
const reply = (m: Message, answer: Record<string, unknown>): void => send({ ...answer, id: m.id });

/** No state: measures the call path, not the store. */
class Echo extends Actor {
  static readonly persistence = "none";
  echo(x: unknown): unknown {
    return x;
  }
}

/** Every acknowledged increment is stored before the reply (for failover). */
class Counter extends Actor<{ value: number }> {
  static readonly persistence = "turn";
  static initialState() {
    return { value: 0 };
  }
  add(n: number): number {
    this.state.value += n;
    return this.state.value;
  }
}

async function silo(): Promise<void> {
  const env = process.env;
  const storage: StateStore =
    env.STATE_DIR === undefined ? new MemoryStateStore() : new FileStateStore(env.STATE_DIR, { lockStaleMs: 2_000 });
  const timings: { heartbeatMs?: number; deadAfterMs?: number } = {};
  if (env.HEARTBEAT_MS !== undefined) timings.heartbeatMs = Number(env.HEARTBEAT_MS);
  if (env.DEAD_AFTER_MS !== undefined) timings.deadAfterMs = Number(env.DEAD_AFTER_MS);
  const s = await Silo.start({
    actors: [Echo, Counter],
    storage,
    idleTimeoutMs: 3_600_000,
    cluster: {
      name: env.CLUSTER as string,
      membership: redisMembership({ url: env.REDIS_URL as string, cluster: env.CLUSTER as string, ...timings }),
      secret: env.PRAAS_CLUSTER_SECRET,
    },
  });
  const active = (): string[] =>
    s
      .clusterView()
      .silos.filter((x) => x.status === "active")
      .map((x) => x.id);
  const ring = (): HashRing => new HashRing(active());
  /** Successful probe calls: [start, end] epoch ms. */
  const successes: [number, number][] = [];
  let probing = false;

  process.on("message", async (m: Message) => {
    const send = (answer: Record<string, unknown>): void => reply(m, answer);
    switch (m.cmd) {
      case "members":
        send({ members: active() });
        break;
      case "keys": {
        // Keys of `type` owned by another silo (every call to them is remote).
        const r = ring();
        const keys: string[] = [];
        for (let i = 0; keys.length < (m.count as number) && i < 1_000_000; i++) {
          const owner = r.owner(`${m.type}/k${i}`);
          if (owner !== s.siloId && (m.owner === undefined || owner === m.owner)) keys.push(`k${i}`);
        }
        send({ keys });
        break;
      }
      case "seq": {
        const ref = s.ref(Echo, m.key as string);
        // `payloadBytes`: a byte array of that size (IPC cannot carry one itself).
        const payload = typeof m.payloadBytes === "number" ? new Uint8Array(m.payloadBytes).fill(7) : m.payload;
        const samples = new Array<number>(m.n as number);
        for (let i = 0; i < (m.n as number); i++) {
          const t0 = nowNs();
          await ref.echo(payload);
          samples[i] = nowNs() - t0;
        }
        send({ samples });
        break;
      }
      case "pipe": {
        const refs = (m.keys as string[]).map((k) => s.ref(Echo, k));
        const n = m.n as number;
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < n) {
            const i = next++;
            await (refs[i % refs.length] as (typeof refs)[number]).echo(i);
          }
        };
        const t0 = nowNs();
        await Promise.all(Array.from({ length: m.window as number }, worker));
        send({ ns: nowNs() - t0 });
        break;
      }
      case "probe": {
        // Call the key again and again; a failure is followed at once by the next attempt.
        probing = true;
        send({ probing: true });
        const ref = s.ref(Counter, m.key as string, { timeoutMs: 30_000 });
        while (probing) {
          const start = Date.now();
          try {
            await ref.add(1);
            successes.push([start, Date.now()]);
          } catch {
            // SiloUnavailableError for the call in flight at the kill; later ones wait for failover.
          }
        }
        break;
      }
      case "firstSuccessAfter": {
        const after = m.after as number;
        const deadline = Date.now() + 60_000;
        let hit: [number, number] | undefined;
        while ((hit = successes.find(([start]) => start >= after)) === undefined && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 1));
        }
        probing = false;
        send({ at: hit?.[1] ?? null });
        successes.length = 0;
        break;
      }
      case "detect": {
        // When this silo's view stopped counting `victim` as active.
        const deadline = Date.now() + 60_000;
        while (active().includes(m.victim as string) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 1));
        }
        send({ at: Date.now() });
        break;
      }
      case "stop":
        await s.stop();
        process.exit(0);
    }
  });
  send({ ready: s.siloId });
}

async function wsServer(): Promise<void> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  wss.on("connection", (ws) => ws.on("message", (data: RawData) => ws.send(data as Buffer)));
  wss.on("listening", () => send({ ready: true, port: (wss.address() as { port: number }).port }));
}

async function wsClient(): Promise<void> {
  let ws: WebSocket | undefined;
  let onReply: () => void = () => {};
  process.on("message", async (m: Message) => {
    const send = (answer: Record<string, unknown>): void => reply(m, answer);
    if (m.cmd === "connect") {
      ws = new WebSocket(`ws://127.0.0.1:${m.port}`, { perMessageDeflate: false });
      ws.on("message", () => onReply());
      await new Promise((r) => ws?.once("open", r));
      send({ connected: true });
    } else if (m.cmd === "seq") {
      const socket = ws as WebSocket;
      const buf = Buffer.alloc(m.bytes as number, 7);
      const samples = new Array<number>(m.n as number);
      for (let i = 0; i < (m.n as number); i++) {
        const t0 = nowNs();
        await new Promise<void>((resolve) => {
          onReply = resolve;
          socket.send(buf);
        });
        samples[i] = nowNs() - t0;
      }
      send({ samples });
    }
  });
  send({ ready: true });
}

const role = process.argv[2];
if (role === "silo") await silo();
else if (role === "ws-server") await wsServer();
else if (role === "ws-client") await wsClient();
else throw new Error(`unknown role ${role}`);
