// ${VAR} substitution in executor settings. A whole value "${VAR}" and references inside longer strings are both
// replaced; "$${VAR}" stays a literal "${VAR}". Applied when an executor is created, before its settings are
// validated, so `chunk_size: "${CHUNK}"` works for a number setting. An unset variable stays the literal text
// "${VAR}", as in ContentFlow (executors/base.py keeps it with a warning); compiling warns about it.
//
// Pipeline documents are untrusted, so not every variable may be read (a `url: https://x/?k=${COSMOS_DB_KEY}` would
// send the key away). The rules, in order:
//   1. the worker's own secrets (its secret settings, AZURE_CLIENT_SECRET and the other identity secrets), and any
//      variable whose value contains one of them: never;
//   2. values that carry a credential (a URL with user info such as HTTPS_PROXY=http://user:pw@proxy, a connection
//      string with AccountKey= / SharedAccessKey= / Password=, a SharedAccessSignature or sig=) and names that look
//      like secrets (…_KEY, …_SECRET, …_PASSWORD, …_PASS, …_PASSPHRASE, …_CONNECTION_STRING, …TOKEN, DATABASE_URL,
//      …INSTRUMENTATIONKEY, see src/config/secret-names.ts): only when PIPELINE_ENV_ALLOWED_VARIABLES names the
//      variable exactly (e.g. AZURE_OPENAI_API_KEY for an AI executor); a pattern or "*" is not enough;
//   3. other variables: those PIPELINE_ENV_ALLOWED_VARIABLES allows ("*" = all, the default; names; PREFIX_*).
// Messages name the variable and the rule, never the value.
import process from "node:process";
import { PipelineError } from "./errors.ts";
import { registerSecret } from "../util/redact.ts";
import type { Config } from "../config/schema.ts";
import { SECRET_SETTINGS } from "../config/schema.ts";
import {
  credentialInValue,
  looksLikeSecretName,
  looksLikeSecretValue,
  WORKER_SECRET_NAMES,
} from "../config/secret-names.ts";

export type Env = Record<string, string | undefined>;

const REFERENCE = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Decides which variables pipelines may read; see the rules at the top of this file. */
export interface PipelineEnvPolicy {
  /** Why `name` (with `value`) may not be read, or undefined when it may. */
  refusal(name: string, value: string): string | undefined;
}

/**
 * The policy from PIPELINE_ENV_ALLOWED_VARIABLES and the worker's secret values (from `config` and from `env`).
 * Without a config: every ordinary variable, no secret-looking one.
 */
export function pipelineEnvPolicy(config: Config | undefined, env: Env = process.env as Env): PipelineEnvPolicy {
  const allowed = config?.PIPELINE_ENV_ALLOWED_VARIABLES ?? ["*"];
  const exact = new Set(allowed.filter((a) => !a.includes("*")).map((a) => a.toUpperCase()));
  const prefixes = allowed.filter((a) => a.endsWith("*")).map((a) => a.slice(0, -1).toUpperCase());
  const secretValues = new Set<string>();
  for (const name of WORKER_SECRET_NAMES) {
    const value = env[name];
    if (value && value.length >= 6) secretValues.add(value);
  }
  for (const name of SECRET_SETTINGS) {
    const value = config?.[name];
    if (typeof value === "string" && value.length >= 6) secretValues.add(value);
  }
  const never = "is a secret of the worker and can never be used in pipeline settings";
  return {
    refusal(name, value) {
      const upper = name.toUpperCase();
      if (WORKER_SECRET_NAMES.has(upper)) return never;
      for (const s of secretValues) {
        if (value.includes(s)) return `holds a secret of the worker and can never be used in pipeline settings`;
      }
      const credential = credentialInValue(value);
      if (credential) {
        return exact.has(upper)
          ? undefined
          : `holds ${credential}; name it exactly in PIPELINE_ENV_ALLOWED_VARIABLES to let pipelines read it`;
      }
      if (looksLikeSecretName(name)) {
        return exact.has(upper)
          ? undefined
          : "looks like a secret; name it in PIPELINE_ENV_ALLOWED_VARIABLES to let pipelines read it";
      }
      if (exact.has(upper) || prefixes.some((p) => upper.startsWith(p))) return undefined;
      return `is not allowed by PIPELINE_ENV_ALLOWED_VARIABLES (${allowed.join(",") || "empty"})`;
    },
  };
}

export function substituteEnv(
  value: unknown,
  env: Env,
  where: string,
  policy: PipelineEnvPolicy = pipelineEnvPolicy(undefined, env),
): unknown {
  if (typeof value === "string") {
    if (!value.includes("${")) return value;
    return value.replace(REFERENCE, (whole, escaped: string, name: string) => {
      if (escaped) return whole.slice(1);
      const found = env[name];
      if (found === undefined) return whole;
      const refused = policy.refusal(name, found);
      if (refused) throw new PipelineError(`${where}: environment variable ${name} ${refused}`);
      // An allowed secret-looking variable (an AI key, a listed URL with a password) is still a secret: keep it out
      // of logs and records.
      if (looksLikeSecretName(name) || looksLikeSecretValue(found)) registerSecret(found);
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((x, i) => substituteEnv(x, env, `${where}[${i}]`, policy));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(value)) out[k] = substituteEnv(x, env, `${where}.${k}`, policy);
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
