/**
 * Hosts on one machine: a Linux network namespace per host, all plugged into
 * a bridge that lives in a namespace of its own (so nothing is added to the
 * machine's own network stack, and traffic stays inside these namespaces).
 *
 *   praasmh-<pid>-sw        the switch: bridge br0 and one port (veth) per host, named p-<host>
 *   praasmh-<pid>-<host>    a host: lo and eth0 (the other end of its port) with 10.213.<n>.<i>/24
 *
 * Faults, without tc netem (not in this kernel) or iptables (not installed):
 * - `cut(host)`: the host's port on the switch goes down; every packet to or
 *   from the host is dropped (its processes live on and see silence);
 * - `cutPair(a, b)`: a permanent neighbour entry in each of the two hosts maps
 *   the other's address to a MAC no host has, so frames between them reach
 *   nobody while both still talk to everyone else.
 *
 * Names carry the runner's PID, so parallel runs never collide, and a run
 * removes what crashed runs left (`removeStale`) before it starts. Every
 * command is `ip` with a bounded run time; processes are started inside a host
 * with `ip netns exec`, which execs the program (its PID is the program's).
 */
import { execFile, execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Launcher } from "#chaos/processes.js";

export const NS_PREFIX = "praasmh";
/** A MAC no host has (locally administered): frames sent to it are dropped by every receiver. */
export const UNUSED_MAC = "02:00:00:00:00:01";
const COMMAND_TIMEOUT_MS = 10_000;

/** `ip …`, bounded; rejects with the command and its stderr. */
export function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("ip", [...args], { timeout: COMMAND_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(" ")}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

/** The namespace of `host` in the run of process `pid`. */
export function nsName(pid: number, host: string): string {
  return `${NS_PREFIX}-${pid}-${host}`;
}

/** The runner PID and host of one of our namespace names; undefined for any other name. */
export function parseNsName(name: string): { readonly pid: number; readonly host: string } | undefined {
  const m = /^praasmh-(\d{1,10})-([a-z0-9]{1,12})$/.exec(name);
  return m === null ? undefined : { pid: Number(m[1]), host: m[2] as string };
}

/** What a multi-host runner's command line contains (node …/test/multihost/dist/run.js). */
export const RUNNER_ENTRY = "/multihost/dist/run.js";

/** Is `pid` a running multi-host runner (and not a dead one whose PID was reused)? */
export function isLiveRunner(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(RUNNER_ENTRY);
  } catch {
    return false;
  }
}

/** Names of every network namespace (`ip netns list` prints "name" or "name (id: n)"). */
export async function listNamespaces(): Promise<string[]> {
  const out = await ip(["netns", "list"]);
  return out
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n !== "");
}

/**
 * Remove what runs that are gone left behind: their processes (each by its
 * PID, found with `ip netns pids`) and their namespaces. Returns the names
 * removed.
 */
export async function removeStale(isLive: (pid: number) => boolean = isLiveRunner): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await listNamespaces()) {
    const parsed = parseNsName(name);
    if (parsed === undefined || parsed.pid === process.pid || isLive(parsed.pid)) continue;
    const pids = await ip(["netns", "pids", name]).catch(() => "");
    for (const p of pids.split(/\s+/).filter((x) => /^\d+$/.test(x))) {
      try {
        process.kill(Number(p), "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    await ip(["netns", "del", name]).catch(() => {});
    removed.push(name);
  }
  return removed;
}

export type Support = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Can this process build hosts? Root, the `ip` command, and a namespace with a
 * bridge and a veth pair in it (created and removed again).
 */
export async function namespaceSupport(): Promise<Support> {
  if (process.platform !== "linux") return { ok: false, reason: `network namespaces need Linux (${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: "network namespaces need root (uid 0)" };
  const probe = nsName(process.pid, "probe");
  try {
    await ip(["netns", "add", probe]);
  } catch (err) {
    return { ok: false, reason: `cannot create a network namespace: ${(err as Error).message}` };
  }
  try {
    await ip(["-n", probe, "link", "add", "br0", "type", "bridge"]);
    await ip(["-n", probe, "link", "add", "a0", "type", "veth", "peer", "name", "a1"]);
    await ip(["-n", probe, "link", "set", "a0", "master", "br0"]);
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `bridge or veth unavailable in a namespace: ${(err as Error).message}` };
  } finally {
    await ip(["netns", "del", probe]).catch(() => {});
  }
}

/** A subnet 10.213.<n>.0/24 that no interface of this machine's own stack uses. */
export async function pickSubnet(pid: number): Promise<string> {
  const used = await ip(["-4", "-o", "addr", "show"]);
  for (let i = 0; i < 200; i++) {
    const n = ((pid + i) % 200) + 20;
    if (!used.includes(` 10.213.${n}.`)) return `10.213.${n}`;
  }
  throw new Error("no free 10.213.x.0/24 subnet on this machine");
}

/** One host: its namespace, address and port on the switch. */
export interface Host {
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
  /** Its port (the switch-side veth) in the switch namespace. */
  readonly port: string;
}

export class Network {
  readonly #hosts = new Map<string, Host>();
  readonly #switchNs: string;
  #destroyed = false;
  /** Pairs cut with `cutPair`, so `destroy` and `healAll` know them. */
  readonly #cutPairs = new Set<string>();

  private constructor(
    readonly pid: number,
    readonly subnet: string,
  ) {
    this.#switchNs = nsName(pid, "sw");
  }

  /**
   * Build the switch and `hosts` (name → last octet of its address). On any
   * failure everything built so far is removed again.
   */
  static async create(hosts: Readonly<Record<string, number>>, pid = process.pid): Promise<Network> {
    const net = new Network(pid, await pickSubnet(pid));
    try {
      await ip(["netns", "add", net.#switchNs]);
      await ip(["-n", net.#switchNs, "link", "set", "lo", "up"]);
      await ip(["-n", net.#switchNs, "link", "add", "br0", "type", "bridge"]);
      await ip(["-n", net.#switchNs, "link", "set", "br0", "up"]);
      for (const [name, octet] of Object.entries(hosts)) await net.#addHost(name, octet);
    } catch (err) {
      await net.destroy();
      throw err;
    }
    return net;
  }

  async #addHost(name: string, octet: number): Promise<void> {
    if (!/^[a-z0-9]{1,12}$/.test(name) || name === "sw" || name === "probe") throw new Error(`bad host name ${name}`);
    if (!(Number.isInteger(octet) && octet > 0 && octet < 255)) throw new Error(`bad address octet ${octet}`);
    const host: Host = { name, ns: nsName(this.pid, name), ip: `${this.subnet}.${octet}`, port: `p-${name}` };
    await ip(["netns", "add", host.ns]);
    this.#hosts.set(name, host);
    await ip(["-n", host.ns, "link", "set", "lo", "up"]);
    // Created in the switch namespace, the host's end moved straight into the host's: nothing in ours.
    await ip([
      "-n",
      this.#switchNs,
      "link",
      "add",
      host.port,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      host.ns,
    ]);
    await ip(["-n", this.#switchNs, "link", "set", host.port, "master", "br0"]);
    await ip(["-n", this.#switchNs, "link", "set", host.port, "up"]);
    await ip(["-n", host.ns, "addr", "add", `${host.ip}/24`, "dev", "eth0"]);
    await ip(["-n", host.ns, "link", "set", "eth0", "up"]);
  }

  host(name: string): Host {
    const h = this.#hosts.get(name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  get hosts(): readonly Host[] {
    return [...this.#hosts.values()];
  }

  /** Start programs inside `host`: `ip netns exec <ns> command …args` (exec, same PID). */
  launcher(name: string): Launcher {
    const ns = this.host(name).ns;
    return (command, args) => ["ip", ["netns", "exec", ns, command, ...args]];
  }

  /** Take the host off the network: its switch port goes down. */
  async cut(name: string): Promise<void> {
    await ip(["-n", this.#switchNs, "link", "set", this.host(name).port, "down"]);
  }

  async heal(name: string): Promise<void> {
    await ip(["-n", this.#switchNs, "link", "set", this.host(name).port, "up"]);
  }

  /** Is the host's switch port up? */
  async isConnected(name: string): Promise<boolean> {
    const out = await ip(["-n", this.#switchNs, "-o", "link", "show", this.host(name).port]);
    return !/state DOWN|[<,]DOWN[,>]/.test(out) && /[<,]UP[,>]/.test(out);
  }

  /** Cut `a` and `b` from each other only: each maps the other's address to a MAC nobody has. */
  async cutPair(a: string, b: string): Promise<void> {
    const ha = this.host(a);
    const hb = this.host(b);
    this.#cutPairs.add(`${a}|${b}`);
    for (const [from, to] of [
      [ha, hb],
      [hb, ha],
    ] as const) {
      await ip(["-n", from.ns, "neigh", "replace", to.ip, "lladdr", UNUSED_MAC, "nud", "permanent", "dev", "eth0"]);
    }
  }

  /** Undo `cutPair`: the entries go, and each side resolves the other's MAC again (ARP). */
  async healPair(a: string, b: string): Promise<void> {
    const ha = this.host(a);
    const hb = this.host(b);
    for (const [from, to] of [
      [ha, hb],
      [hb, ha],
    ] as const) {
      await ip(["-n", from.ns, "neigh", "del", to.ip, "dev", "eth0"]).catch(() => {});
    }
    this.#cutPairs.delete(`${a}|${b}`);
  }

  /** Remove every namespace of this network (the processes in them must be gone already, or die now). */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const h of this.#hosts.values()) await ip(["netns", "del", h.ns]).catch(() => {});
    await ip(["netns", "del", this.#switchNs]).catch(() => {});
  }

  /** `destroy` for an exit handler, where nothing asynchronous runs any more. */
  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const ns of [...[...this.#hosts.values()].map((h) => h.ns), this.#switchNs]) {
      try {
        execFileSync("ip", ["netns", "del", ns], { timeout: COMMAND_TIMEOUT_MS, stdio: "ignore" });
      } catch {
        // Already gone, or the next run's removeStale takes it.
      }
    }
  }
}
