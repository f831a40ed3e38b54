// Why each setting has the value it has (shown by `contentflow-worker config` and logged at start), and the
// warnings a configuration deserves before anything runs.
import ipaddr from "ipaddr.js";
import type { Config, SettingName } from "./schema.ts";
import { SETTING_NAMES } from "./schema.ts";
import type { ConfigSource, LoadedConfig } from "./load.ts";

const LOCAL_SOURCE: Record<ConfigSource, string> = {
  default: "default",
  ".env": "env file",
  env: "environment",
  "app-config": "App Configuration",
};

/** One line per setting: where the value came from, and what it won or lost against. */
export function settingOrigins(loaded: LoadedConfig): Record<SettingName, string> {
  const out = {} as Record<SettingName, string>;
  const named = new Set(loaded.config.APP_CONFIG_LOCAL_OVERRIDES);
  for (const name of SETTING_NAMES) {
    const source = loaded.sources[name];
    const overrode = loaded.localOverrides?.[name];
    if (overrode) {
      out[name] = `${LOCAL_SOURCE[source]} (local override over App Configuration key ${overrode}: ` +
        `${name} is in APP_CONFIG_LOCAL_OVERRIDES)`;
      continue;
    }
    if (source !== "app-config") {
      out[name] = LOCAL_SOURCE[source];
      continue;
    }
    const label = loaded.appConfigLabels?.[name];
    let why = `App Configuration key ${loaded.appConfigKeys[name] ?? name}${label ? ` (label ${label})` : ""}`;
    const lost = loaded.shadowed?.[name];
    if (lost) {
      why += `; it replaces the value from the ${LOCAL_SOURCE[lost]} (name ${name} in APP_CONFIG_LOCAL_OVERRIDES ` +
        `to keep the local value)`;
    } else if (named.has(name) || named.has("*")) {
      why += `; APP_CONFIG_LOCAL_OVERRIDES names ${name}, but neither the environment nor the env file sets it`;
    }
    out[name] = why;
  }
  return out;
}

/** True for an address only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (!ipaddr.isValid(h)) return false;
  const addr = ipaddr.process(h);
  return addr.range() === "loopback";
}

/** The API binds beyond loopback without a token: /status and /metrics are open to whoever can reach it. */
export function apiExposureWarning(config: Config): string | undefined {
  if (!config.API_ENABLED || config.API_TOKEN || isLoopbackHost(config.API_HOST)) return undefined;
  return `API_HOST=${config.API_HOST} is not a loopback address and API_TOKEN is not set: /status and /metrics ` +
    `(worker names, queue and pipeline counters) answer anyone who can reach port ${config.API_PORT}; ` +
    `set API_TOKEN, or API_HOST=127.0.0.1`;
}

/** Local values App Configuration replaced, as one warning (silently ignored settings are the trap). */
export function shadowedWarning(loaded: LoadedConfig): string | undefined {
  const names = Object.keys(loaded.shadowed ?? {});
  if (!names.length) return undefined;
  return `App Configuration replaces the value set in the environment or env file for ${names.join(", ")}; ` +
    `to keep a local value on this VM, name it in APP_CONFIG_LOCAL_OVERRIDES (or use an App Configuration label, ` +
    `APP_CONFIG_LABEL)`;
}

/** Every warning of a loaded configuration, for the start-up log and `config`. */
export function configWarnings(loaded: LoadedConfig): string[] {
  return [apiExposureWarning(loaded.config), shadowedWarning(loaded)].filter((w): w is string => w !== undefined);
}
