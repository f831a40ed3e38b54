// A small, strict argv parser: unknown flags and missing values are usage errors (exit code 2).

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export type FlagKind = "string" | "boolean";

export interface ParsedArgs {
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parses `--name=value`, `--name value` and `--flag`. `-h` is `--help`. */
export function parseArgs(argv: string[], spec: Record<string, FlagKind>, maxPositionals = 0): ParsedArgs {
  const flags: Record<string, string | boolean | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h") {
      flags.help = true;
      continue;
    }
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq >= 0 ? eq : undefined);
      const kind = name === "help" ? "boolean" : spec[name];
      if (!kind) throw new UsageError(`unknown option --${name}`);
      if (kind === "boolean") {
        if (eq >= 0) {
          const v = arg.slice(eq + 1).toLowerCase();
          if (!["true", "false", "1", "0"].includes(v)) {
            throw new UsageError(`--${name} takes no value (or true/false)`);
          }
          flags[name] = v === "true" || v === "1";
        } else flags[name] = true;
        continue;
      }
      let value: string | undefined;
      if (eq >= 0) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) value = argv[++i];
      if (value === undefined || value === "") throw new UsageError(`--${name} needs a value`);
      flags[name] = value;
      continue;
    }
    if (arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option ${arg}`);
    positionals.push(arg);
  }
  if (positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument '${positionals[maxPositionals]}'`);
  }
  return { flags, positionals };
}
