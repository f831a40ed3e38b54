// Azure App Configuration source: list the keys matching APP_CONFIG_KEY_FILTERS (and APP_CONFIG_LABEL),
// trim each filter's prefix (the part before '*') and return { SETTING_NAME: value }.
import { AppConfigurationClient } from "@azure/app-configuration";
import type { Config } from "./schema.ts";
import { azureCredential } from "./credential.ts";

export interface AppConfigOptions {
  /** Only for tests against a local fake server over plain HTTP. */
  allowInsecureConnection?: boolean;
}

export function keyPrefix(filter: string): string {
  const star = filter.indexOf("*");
  return star >= 0 ? filter.slice(0, star) : filter;
}

export async function loadAppConfiguration(
  config: Config,
  opts: AppConfigOptions = {},
): Promise<Record<string, string>> {
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

async function listSettings(client: AppConfigurationClient, config: Config): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const filters = config.APP_CONFIG_KEY_FILTERS.length ? config.APP_CONFIG_KEY_FILTERS : ["contentflow.worker.*"];
  for (const filter of filters) {
    const prefix = keyPrefix(filter);
    const listing = client.listConfigurationSettings({
      keyFilter: filter,
      ...(config.APP_CONFIG_LABEL ? { labelFilter: config.APP_CONFIG_LABEL } : {}),
    });
    for await (const setting of listing) {
      if (setting.value === undefined || setting.value === null) continue;
      const name = setting.key.startsWith(prefix) ? setting.key.slice(prefix.length) : setting.key;
      out[name] = setting.value;
    }
  }
  return out;
}
