/**
 * The help text of `praas`, generated: the flags of every command are written
 * from the settings' descriptions (settings.ts), so every flag is listed with
 * its default and none can be added without its help line.
 */
import { defaultText } from "@praas/core/internal";
import { CLIENT_SETTINGS, envOf, flagOf, SETTINGS, type Setting, type SettingGroup } from "./settings.js";

/** Where descriptions start, and where lines wrap. */
const DOC_COLUMN = 41;
const WIDTH = 104;

const GROUP_TITLES: Readonly<Record<SettingGroup, string | undefined>> = {
  start: undefined,
  cluster: "Cluster (membership in Redis; calls go to the silo owning the actor):",
  storage: "Storage:",
  observability: "Observability (docs/observability.md):",
};

/** `--storage lmdb|fs|s3|redis|memory`, `--port <n>`, `--insecure`. */
function flagColumn(s: Setting): string {
  const arg = s.spec.choices?.join("|") ?? (s.input === "boolean" ? undefined : s.arg);
  return `--${flagOf(s)}${arg === undefined ? "" : ` ${arg}`}`;
}

/** `text` in lines of at most WIDTH, the first after `head`, the others indented by `indent`. */
function wrap(head: string, text: string, indent = DOC_COLUMN): string[] {
  const lines: string[] = [];
  let line = head.length + 2 > indent ? `${head}  ` : head.padEnd(indent);
  let fresh = true;
  for (const word of text.split(" ")) {
    if (!fresh && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = " ".repeat(indent);
      fresh = true;
    }
    line += fresh ? word : ` ${word}`;
    fresh = false;
  }
  lines.push(line);
  return lines;
}

/** One setting's help: its flag, what it does and its default. */
export function settingHelp(s: Setting): string[] {
  return wrap(`      ${flagColumn(s)}`, `${s.spec.doc} (default: ${defaultText(s.spec)})`);
}

function startHelp(): string[] {
  const lines: string[] = [];
  for (const group of Object.keys(GROUP_TITLES) as SettingGroup[]) {
    const title = GROUP_TITLES[group];
    if (title !== undefined) lines.push(`    ${title}`);
    for (const s of SETTINGS) if (s.group === group && s.fileOnly !== true) lines.push(...settingHelp(s));
  }
  const fileOnly = SETTINGS.filter((s) => s.fileOnly === true)
    .map((s) => `"${s.key}"`)
    .join(", ");
  const examples = SETTINGS.filter((s) => ["actors", "port", "cluster", "redisUrl", "storage"].includes(s.key))
    .map(envOf)
    .join(", ");
  lines.push(
    ...wrap("      --config <file.json>", `settings file: the keys above in camelCase, plus ${fileOnly}`),
    ...wrap(
      "    Environment:",
      `PRAAS_ + the flag in upper case with _ (${examples}, …), and PRAAS_CONFIG. Flags override the environment, which overrides the config file.`,
      4,
    ),
  );
  return lines;
}

function clientHelp(): string[] {
  return CLIENT_SETTINGS.flatMap((s) => {
    const arg = s.input === "boolean" ? "" : ` ${s.arg}`;
    const fallback = s.env === undefined ? defaultText(s.spec) : `$${s.env}, else ${defaultText(s.spec)}`;
    const only = s.only === undefined ? "" : ` (${s.only} only)`;
    return wrap(`      --${s.flag}${arg}`, `${s.spec.doc}${only} (default: ${fallback})`);
  });
}

export const USAGE = `praas — run and use PraaS silos (virtual actors for Node)

  praas start [options]                  run a silo with its WebSocket/HTTP gateway until SIGTERM
${startHelp().join("\n")}

  praas call <Type/key> <method> [args…] call a method; each arg is a JSON value (a bare word is a string)
  praas status [Type/key]                the cluster view, or where one actor is
${clientHelp().join("\n")}

  praas help, praas <command> --help     this text

  Exit codes: 0 done (start: stopped by a signal, state saved); 1 failed; 2 bad usage or settings,
  or Redis unreachable at start; 3 (start) out of the cluster for longer than --rejoin-timeout-ms.
`;
