import { join } from "node:path";
import { type Gateway, Silo, startGateway } from "@praas/silo";
import { combineWeb, loadActorModules } from "./actors.js";
import type { StartConfig } from "./config.js";

export interface Running {
  readonly silo: Silo;
  readonly gateway: Gateway;
  /** Did a module offer web routes (`praasWeb`)? */
  readonly hasWeb: boolean;
  /** Drain the gateway (running calls finish), then stop the silo (state saved). */
  stop(): Promise<void>;
}

/** Start a silo hosting the configured actors and its gateway. */
export async function startServer(config: StartConfig): Promise<Running> {
  const { classes, web } = await loadActorModules(config.actors);
  const silo = await Silo.start({
    actors: classes,
    stateDir: config.stateDir,
    idleTimeoutMs: config.idleTimeoutMs,
    callTimeoutMs: config.callTimeoutMs,
    maxActivations: config.maxActivations,
  });
  let gateway: Gateway;
  try {
    gateway = await startGateway(silo, {
      host: config.host,
      port: config.port,
      token: config.token,
      insecure: config.insecure,
      limits: config.limits,
      fallback: combineWeb(web),
    });
  } catch (err) {
    await silo.stop();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    silo,
    gateway,
    hasWeb: web.length > 0,
    stop() {
      stopping ??= (async () => {
        await gateway.close({ drainTimeoutMs: config.drainTimeoutMs });
        await silo.stop();
      })();
      return stopping;
    },
  };
}

/** The banner: where to connect and what to try. */
export function banner(running: Running, config: StartConfig): string {
  const { silo, gateway } = running;
  const types = silo.actorTypes;
  const counter = types.includes("Counter") && silo.methodsOf("Counter")?.has("add");
  const type = counter ? "Counter" : (types[0] as string);
  const method = counter ? "add" : ([...(silo.methodsOf(type) ?? [])][0] ?? "method");
  const args = counter ? "1" : "";
  const auth = config.token === undefined ? "" : ` -H "Authorization: Bearer $PRAAS_TOKEN"`;
  const stateDir = config.stateDir ?? process.env.PRAAS_STATE_DIR ?? join(process.cwd(), ".praas-state");
  const lines = [
    `PraaS silo ${silo.siloId} is up, hosting ${types.join(", ")}`,
    `  WebSocket  ${gateway.wsUrl}`,
    `  HTTP       ${gateway.url}   (GET /healthz, /readyz, /metrics, /v1/cluster)`,
    `  state      ${stateDir}`,
    "Try:",
    `  curl -X POST ${gateway.url}/v1/actors/${type}/alice/${method}${auth} -d '[${args}]'`,
    `  npx praas call ${type}/alice ${method}${args ? ` ${args}` : ""} --url ${gateway.url}`,
    `  npx praas status --url ${gateway.url}`,
  ];
  if (running.hasWeb) lines.push(`  open ${gateway.url}/ in a browser`);
  lines.push("SIGTERM or Ctrl-C drains running calls, saves state and stops.");
  return lines.join("\n");
}
