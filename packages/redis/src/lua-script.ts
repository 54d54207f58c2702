/**
 * Lua scripts on an ioredis client, through its `defineCommand`: ioredis
 * sends EVAL the first time on each connection and EVALSHA after, and sends
 * the script again when the server answers NOSCRIPT (a restart, SCRIPT
 * FLUSH) — so no script needs loading first and no caller writes the fallback.
 *
 * The command is defined on the client itself, so on a client the caller
 * passed in it shows up as a method; the names start with "praas" to keep
 * clear of the caller's own.
 */
import type { Redis } from "ioredis";

export type ScriptArg = string | number | Buffer;
export type RunScript = (...args: ScriptArg[]) => Promise<unknown>;

export interface LuaScript {
  /** Run with string replies; with `numberOfKeys` the keys come first, else their count does. */
  readonly run: RunScript;
  /** Run with Buffer replies (binary values come back unchanged). */
  readonly runBuffer: RunScript;
}

/** Define `lua` on `client` as command `name` ("praas…", see above). */
export function defineScript(client: Redis, name: string, lua: string, numberOfKeys?: number): LuaScript {
  client.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
  // defineCommand added `name` and `nameBuffer` to this client; its type cannot know them.
  const commands = client as unknown as Record<string, RunScript>;
  const run = commands[name] as RunScript;
  const runBuffer = commands[`${name}Buffer`] as RunScript;
  return { run: run.bind(client), runBuffer: runBuffer.bind(client) };
}
