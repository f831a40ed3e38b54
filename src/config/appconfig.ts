// Azure App Configuration source. Like the Python worker, `contentflow.common.*` (the keys the reference
// infrastructure shares between the ContentFlow API and the worker: Cosmos endpoint, queue URL and name, blob
// account) is always read first, then the filters of APP_CONFIG_KEY_FILTERS (default `contentflow.worker.*`), so a
// worker key overrides a common key of the same name. Each filter's prefix (the part before '*') is trimmed, and we
// remember which App Configuration key every value came from (`contentflow-worker config` shows it).
import { AppConfigurationClient } from "@azure/app-configuration";
import type { Config } from "./schema.ts";
import { azureCredential } from "./credential.ts";

export interface AppConfigOptions {
  /** Only for tests against a local fake server over plain HTTP. */
  allowInsecureConnection?: boolean;
}

/** Settings read from App Configuration: `values[NAME]` and the full key it came from in `keys[NAME]`. */
export interface AppConfigValues {
  values: Record<string, string>;
  keys: Record<string, string>;
}

export const COMMON_KEY_FILTER = "contentflow.common.*";
export const DEFAULT_WORKER_KEY_FILTER = "contentflow.worker.*";

export function keyPrefix(filter: string): string {
  const star = filter.indexOf("*");
  return star >= 0 ? filter.slice(0, star) : filter;
}

/**
 * The filters in the order they are applied (a later filter's value wins): `contentflow.common.*` first unless the
 * operator placed it in APP_CONFIG_KEY_FILTERS themselves (then their order holds), then the configured filters.
 */
export function effectiveKeyFilters(configured: string[]): string[] {
  const filters = configured.map((f) => f.trim()).filter((f) => f !== "");
  const own = filters.length ? filters : [DEFAULT_WORKER_KEY_FILTER];
  return own.includes(COMMON_KEY_FILTER) ? [...new Set(own)] : [COMMON_KEY_FILTER, ...new Set(own)];
}

export async function loadAppConfiguration(config: Config, opts: AppConfigOptions = {}): Promise<AppConfigValues> {
  const clientOptions = {
    allowInsecureConnection: opts.allowInsecureConnection ?? false,
    retryOptions: { maxRetries: 2 },
  };
  const client = config.AZURE_APP_CONFIG_CONNECTION_STRING
    ? new AppConfigurationClient(config.AZURE_APP_CONFIG_CONNECTION_STRING, clientOptions)
    : new AppConfigurationClient(config.AZURE_APP_CONFIG_ENDPOINT, azureCredential(), clientOptions);

  try {
    return await listSettings(client, config);
  } catch (err) {
    const where = config.AZURE_APP_CONFIG_ENDPOINT ||
      /Endpoint=([^;]+)/i.exec(config.AZURE_APP_CONFIG_CONNECTION_STRING)?.[1] || "App Configuration";
    throw new Error(`could not read Azure App Configuration at ${where}: ${(err as Error).message}`);
  }
}

async function listSettings(client: AppConfigurationClient, config: Config): Promise<AppConfigValues> {
  const out: AppConfigValues = { values: {}, keys: {} };
  for (const filter of effectiveKeyFilters(config.APP_CONFIG_KEY_FILTERS)) {
    const prefix = keyPrefix(filter);
    const listing = client.listConfigurationSettings({
      keyFilter: filter,
      ...(config.APP_CONFIG_LABEL ? { labelFilter: config.APP_CONFIG_LABEL } : {}),
    });
    for await (const setting of listing) {
      if (setting.value === undefined || setting.value === null) continue;
      const name = setting.key.startsWith(prefix) ? setting.key.slice(prefix.length) : setting.key;
      out.values[name] = setting.value;
      out.keys[name] = setting.key;
    }
  }
  return out;
}
