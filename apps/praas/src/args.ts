import { UsageError } from "./errors.js";

export type FlagKind = "string" | "boolean" | "list";

export interface ParsedArgs {
  readonly flags: Record<string, string | boolean | string[]>;
  readonly positionals: string[];
}

/**
 * A strict flag parser: `--name value`, `--name=value`, booleans as `--name`,
 * lists repeatable and comma-separated, `--` ends the flags. Unknown flags are
 * errors. A token like `-1` or `-0.5` is a value, not a flag, so that
 * `praas call Counter/a add -1` works.
 */
export function parseArgs(argv: readonly string[], spec: Readonly<Record<string, FlagKind>>): ParsedArgs {
  const flags: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith("-") || token === "-" || /^-\d/.test(token)) {
      positionals.push(token);
      continue;
    }
    if (!token.startsWith("--")) throw new UsageError(`Unknown option ${token} (options are spelled --name)`);
    const eq = token.indexOf("=");
    const name = token.slice(2, eq < 0 ? undefined : eq);
    const kind = spec[name];
    if (kind === undefined) {
      const known = Object.keys(spec)
        .map((k) => `--${k}`)
        .join(", ");
      throw new UsageError(`Unknown option --${name}${known ? ` (known: ${known})` : ""}`);
    }
    if (kind === "boolean") {
      if (eq >= 0) {
        const v = token.slice(eq + 1);
        if (v !== "true" && v !== "false") throw new UsageError(`--${name} takes no value (or =true / =false)`);
        flags[name] = v === "true";
      } else flags[name] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) value = token.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("--") && next !== "--"))
        throw new UsageError(`--${name} needs a value`);
      value = next;
      i++;
    }
    if (kind === "list") {
      const list = (flags[name] as string[] | undefined) ?? [];
      list.push(...value.split(",").filter((s) => s.length > 0));
      flags[name] = list;
    } else {
      if (flags[name] !== undefined) throw new UsageError(`--${name} given twice`);
      flags[name] = value;
    }
  }
  return { flags, positionals };
}
