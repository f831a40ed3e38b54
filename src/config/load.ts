// Effective configuration = defaults < .env file < process environment < Azure App Configuration
// (App Configuration overrides the environment, as in the Python worker), except for the settings named in
// APP_CONFIG_LOCAL_OVERRIDES: there a value set in the environment or the env file wins, so one VM can differ from
// the shared store. The App Configuration settings themselves (group "appconfig") are never read from the store:
// they say how it is read.
import * as v from "valibot";
import { existsSync, readFileSync } from "node:fs";
import { type Config, configSchema, SECRET_SETTINGS, SETTING_NAMES, settingMeta, type SettingName } from "./schema.ts";
import { redactText, registerSecret } from "../util/redact.ts";
import { looksLikeSecretValue, WORKER_SECRET_NAMES } from "./secret-names.ts";
import { parseSystemdEnvironmentFile } from "./systemd-env-file.ts";

export type ConfigSource = "default" | ".env" | "env" | "app-config";

export interface LoadedConfig {
  config: Config;
  sources: Record<SettingName, ConfigSource>;
  /** For settings whose source is "app-config": the App Configuration key the value was read from. */
  appConfigKeys: Partial<Record<SettingName, string>>;
  /** For settings whose source is "app-config" and whose key has a label: that label. */
  appConfigLabels?: Partial<Record<SettingName, string>>;
  /** Settings whose local value won through APP_CONFIG_LOCAL_OVERRIDES: the App Configuration key it won over. */
  localOverrides?: Partial<Record<SettingName, string>>;
  /** Settings set locally (env or env file) whose value App Configuration replaced: where the lost value was. */
  shadowed?: Partial<Record<SettingName, ConfigSource>>;
}

/** Settings the store may not set: they decide where and how it is read. */
function isBootstrapSetting(name: SettingName): boolean {
  return settingMeta[name].group === "appconfig";
}

/** The names in APP_CONFIG_LOCAL_OVERRIDES, checked: each must be a setting (or `*` for every setting). */
export function localOverrideNames(names: readonly string[]): Set<SettingName> {
  if (names.includes("*")) return new Set(SETTING_NAMES);
  const unknown = names.filter((n) => !(SETTING_NAMES as readonly string[]).includes(n));
  if (unknown.length) {
    throw new ConfigError([
      `APP_CONFIG_LOCAL_OVERRIDES names ${unknown.join(", ")}: not ${
        unknown.length > 1 ? "settings" : "a setting"
      } (expected setting names such as NUM_SOURCE_WORKERS,API_HOST, or *)`,
    ]);
  }
  return new Set(names as SettingName[]);
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

/** Minimal .env parser: KEY=VALUE, optional `export`, quotes, # comments, \n escapes in double quotes. */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2];
    if (value.startsWith('"')) {
      const end = value.lastIndexOf('"');
      value = value.slice(1, end > 0 ? end : undefined).replace(/\\n/g, "\n").replace(/\\"/g, '"');
    } else if (value.startsWith("'")) {
      const end = value.lastIndexOf("'");
      value = value.slice(1, end > 0 ? end : undefined);
    } else {
      const hash = value.search(/\s#/);
      if (hash >= 0) value = value.slice(0, hash);
      value = value.trim();
    }
    out[m[1]] = value;
  }
  return out;
}

function lookup(record: Record<string, string | undefined>, name: SettingName): string | undefined {
  const direct = record[name];
  if (direct !== undefined) return direct;
  for (const alias of settingMeta[name].aliases ?? []) {
    if (record[alias] !== undefined) return record[alias];
  }
  return undefined;
}

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  /** Path of the .env file; default ./.env when it exists. `false` disables it. */
  dotenvPath?: string | false;
  /**
   * How the file is read: "dotenv" (default; `export`, ` #` comments after values, as python-dotenv) or "systemd"
   * (as EnvironmentFile= reads it: src/config/systemd-env-file.ts), for a file the systemd unit also reads.
   */
  dotenvFormat?: "dotenv" | "systemd";
  /**
   * Loads App Configuration values (already trimmed to setting names) and the key each came from. Called only
   * when App Configuration is configured.
   */
  loadAppConfig?: (
    pre: Config,
  ) => Promise<{ values: Record<string, string>; keys: Record<string, string>; labels?: Record<string, string> }>;
}

/** A rejected value as the error shows it: never a key that was put in the wrong setting. */
function shownValue(raw: string): string {
  if (looksLikeSecretValue(raw)) return "(value not shown: it looks like a connection string or signature with a key)";
  const text = redactText(raw);
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}

/**
 * Registers this process's secrets for redaction (see src/util/redact.ts): every secret setting and the identity
 * secrets in the environment. Called by loadConfig, and by workers that receive their configuration over the pipe.
 */
export function registerConfigSecrets(config: Config, env: Record<string, string | undefined> = process.env): void {
  for (const name of SECRET_SETTINGS) registerSecret(String(config[name] ?? ""));
  for (const name of WORKER_SECRET_NAMES) registerSecret(env[name]);
}

function validate(raw: Record<SettingName, string>): Config {
  const result = v.safeParse(configSchema, raw);
  if (result.success) {
    const cfg = result.output;
    // DEBUG=true is the Python worker's shorthand for verbose logs.
    if (cfg.DEBUG) cfg.LOG_LEVEL = "DEBUG";
    return cfg;
  }
  const problems: string[] = [];
  for (const issue of result.issues) {
    const key = issue.path?.[0]?.key as SettingName | undefined;
    if (!key) {
      problems.push(issue.message);
      continue;
    }
    const shown = settingMeta[key]?.secret ? "(secret value)" : shownValue(raw[key]);
    problems.push(`${key}=${shown}: ${issue.message}`);
  }
  throw new ConfigError(problems);
}

export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  const env = opts.env ?? (process.env as Record<string, string | undefined>);
  let dotenv: Record<string, string> = {};
  const dotenvPath = opts.dotenvPath === undefined ? ".env" : opts.dotenvPath;
  if (dotenvPath) {
    if (existsSync(dotenvPath)) {
      const text = readFileSync(dotenvPath, "utf8");
      dotenv = opts.dotenvFormat === "systemd" ? parseSystemdEnvironmentFile(text) : parseDotenv(text);
    } else if (opts.dotenvPath) {
      throw new ConfigError([`the .env file ${dotenvPath} does not exist`]);
    }
  }

  const raw = {} as Record<SettingName, string>;
  const sources = {} as Record<SettingName, ConfigSource>;
  for (const name of SETTING_NAMES) {
    const fromEnv = lookup(env, name);
    const fromDotenv = lookup(dotenv, name);
    if (fromEnv !== undefined) {
      raw[name] = fromEnv;
      sources[name] = "env";
    } else if (fromDotenv !== undefined) {
      raw[name] = fromDotenv;
      sources[name] = ".env";
    } else {
      raw[name] = settingMeta[name].default;
      sources[name] = "default";
    }
  }

  let config = validate(raw);
  const overridable = localOverrideNames(config.APP_CONFIG_LOCAL_OVERRIDES);
  const appConfigKeys: Partial<Record<SettingName, string>> = {};
  const appConfigLabels: Partial<Record<SettingName, string>> = {};
  const localOverrides: Partial<Record<SettingName, string>> = {};
  const shadowed: Partial<Record<SettingName, ConfigSource>> = {};
  if (opts.loadAppConfig && (config.AZURE_APP_CONFIG_ENDPOINT || config.AZURE_APP_CONFIG_CONNECTION_STRING)) {
    const remote = await opts.loadAppConfig(config);
    let changed = false;
    for (const name of SETTING_NAMES) {
      const value = remote.values[name];
      if (value === undefined || isBootstrapSetting(name)) continue;
      const key = remote.keys[name] ?? name;
      const local = sources[name] === "env" || sources[name] === ".env";
      if (local && overridable.has(name)) {
        localOverrides[name] = key;
        continue;
      }
      // A local value the store replaces with another one (the same value is no surprise).
      if (local && raw[name].trim() !== value.trim()) shadowed[name] = sources[name];
      raw[name] = value;
      sources[name] = "app-config";
      appConfigKeys[name] = key;
      const label = remote.labels?.[name];
      if (label) appConfigLabels[name] = label;
      changed = true;
    }
    if (changed) config = validate(raw);
  }
  registerConfigSecrets(config, env);
  return { config, sources, appConfigKeys, appConfigLabels, localOverrides, shadowed };
}

/** Settings every long-running role needs; checked at start of supervisor and workers. */
export function requireConnectionSettings(config: Config): void {
  const problems: string[] = [];
  if (!config.STORAGE_ACCOUNT_WORKER_QUEUE_URL && !config.STORAGE_QUEUE_CONNECTION_STRING) {
    problems.push(
      "STORAGE_ACCOUNT_WORKER_QUEUE_URL is missing: expected the queue endpoint, e.g. https://<account>.queue.core.windows.net (or set STORAGE_QUEUE_CONNECTION_STRING)",
    );
  }
  if (!config.COSMOS_DB_ENDPOINT) {
    problems.push(
      "COSMOS_DB_ENDPOINT is missing: expected the Cosmos DB endpoint, e.g. https://<account>.documents.azure.com:443/",
    );
  }
  if (
    config.STORAGE_QUEUE_CONNECTION_STRING &&
    !/AccountName=|UseDevelopmentStorage=true|QueueEndpoint=/i.test(config.STORAGE_QUEUE_CONNECTION_STRING)
  ) {
    problems.push(
      "STORAGE_QUEUE_CONNECTION_STRING=(secret value): expected a storage connection string with AccountName/AccountKey or QueueEndpoint",
    );
  }
  if (problems.length) throw new ConfigError(problems);
}

/** Name of the poison queue: explicit setting, or `<queue>-poison` (kept within the 63-character limit). */
export function poisonQueueName(config: Config): string {
  if (config.STORAGE_POISON_QUEUE_NAME) return config.STORAGE_POISON_QUEUE_NAME;
  return `${config.STORAGE_WORKER_QUEUE_NAME.slice(0, 56)}-poison`;
}
