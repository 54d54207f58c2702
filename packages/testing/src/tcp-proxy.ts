import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

/**
 * A TCP proxy on a free loopback port, for network faults in tests: put it
 * between a client and a server (Redis) and cut, freeze or refuse the link
 * while both ends run for real.
 */
export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** Connections open now. */
  readonly connections: number;
  /**
   * A partition: nothing flows either way and nobody is told (no reset).
   * Bytes sent meanwhile are held and delivered on `thaw()`, as TCP would retransmit them.
   */
  freeze(): void;
  /**
   * End the partition. With `{ strand: true }` the connections that were open
   * stay silent for good (nothing is delivered, nobody is told) while new ones
   * flow: a long silent cut, after which a client's old socket is stuck in
   * TCP's retransmission back-off and only a new connection gets through.
   */
  thaw(options?: { readonly strand?: boolean }): void;
  /** Reset every open connection now (a crash or restart of the server, as its clients see it). */
  cut(): void;
  /** While true, new connections are reset at once (the server is down); false accepts them again. */
  refuse(on: boolean): void;
  /** Forward new connections to another port (a server restarted elsewhere); open ones keep theirs. */
  retarget(port: number): void;
  /**
   * From now on, a connection whose client sends bytes matching `pattern`
   * forwards nothing more from its client (the request hangs unanswered). Resolves
   * the first time that happens.
   */
  holdWhen(pattern: RegExp): Promise<void>;
  /** New connections are no longer held (held ones stay held until cut). */
  stopHolding(): void;
  close(): Promise<void>;
}

interface Link {
  readonly client: Socket;
  readonly server: Socket;
  /** Chunks held while frozen: [direction, bytes]. */
  readonly queued: [toServer: boolean, bytes: Buffer][];
  held: boolean;
  /** Silent for good (see thaw's strand). */
  stranded: boolean;
}

/** Start a proxy to `targetPort` on 127.0.0.1. */
export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const links = new Set<Link>();
  let target = targetPort;
  let frozen = false;
  let refusing = false;
  let hold: { pattern: RegExp; resolve: () => void } | undefined;

  const forward = (link: Link, toServer: boolean, bytes: Buffer): void => {
    if (toServer && hold !== undefined && !link.held && hold.pattern.test(bytes.toString("latin1"))) {
      link.held = true;
      hold.resolve();
    }
    if (toServer && link.held) return;
    if (link.stranded) return;
    if (frozen) {
      link.queued.push([toServer, bytes]);
      return;
    }
    (toServer ? link.server : link.client).write(bytes);
  };

  const server: Server = createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = tcpConnect(target, targetHost);
    const link: Link = { client, server: upstream, queued: [], held: false, stranded: false };
    links.add(link);
    const end = (): void => {
      if (!links.delete(link)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (b: Buffer) => forward(link, true, b));
    upstream.on("data", (b: Buffer) => forward(link, false, b));
    for (const s of [client, upstream]) {
      s.on("error", end);
      s.on("close", end);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("tcp proxy: no address");

  const resetAll = (): void => {
    for (const link of [...links]) {
      links.delete(link);
      link.client.resetAndDestroy();
      link.server.destroy();
    }
  };

  return {
    host: "127.0.0.1",
    port: address.port,
    get connections() {
      return links.size;
    },
    freeze() {
      frozen = true;
    },
    thaw(options) {
      frozen = false;
      for (const link of links) {
        if (options?.strand === true) {
          link.stranded = true;
          link.queued.length = 0;
          continue;
        }
        for (const [toServer, bytes] of link.queued.splice(0)) (toServer ? link.server : link.client).write(bytes);
      }
    },
    cut: resetAll,
    refuse(on) {
      refusing = on;
      if (on) resetAll();
    },
    retarget(port) {
      target = port;
    },
    holdWhen(pattern) {
      return new Promise<void>((resolve) => {
        hold = { pattern, resolve };
      });
    },
    stopHolding() {
      hold = undefined;
    },
    async close() {
      resetAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
