// ${VAR} substitution in executor settings. A whole value "${VAR}" and references inside longer strings are both
// replaced; "$${VAR}" stays a literal "${VAR}". Applied when an executor is created, before its settings are
// validated, so `chunk_size: "${CHUNK}"` works for a number setting. An unset variable stays the literal text
// "${VAR}", as in ContentFlow (executors/base.py keeps it with a warning); compiling warns about it.
import { PipelineError } from "./errors.ts";

export type Env = Record<string, string | undefined>;

const REFERENCE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function substituteEnv(value: unknown, env: Env, where: string): unknown {
  if (typeof value === "string") {
    if (!value.includes("${")) return value;
    return value.replace(REFERENCE, (whole, escaped: string, name: string) => {
      if (escaped) return whole.slice(1);
      const found = env[name];
      if (found === undefined) return whole;
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((x, i) => substituteEnv(x, env, `${where}[${i}]`));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(value)) out[k] = substituteEnv(x, env, `${where}.${k}`);
    return out;
  }
  return value;
}

/** The settings paths and names of ${VAR} references whose variable is not set (they stay literal). */
export function unsetReferences(value: unknown, env: Env, where: string): Array<{ where: string; name: string }> {
  if (typeof value === "string") {
    const out: Array<{ where: string; name: string }> = [];
    for (const m of value.matchAll(REFERENCE)) {
      if (!m[1] && env[m[2]] === undefined) out.push({ where, name: m[2] });
    }
    return out;
  }
  if (Array.isArray(value)) return value.flatMap((x, i) => unsetReferences(x, env, `${where}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, x]) => unsetReferences(x, env, `${where}.${k}`));
  }
  return [];
}
