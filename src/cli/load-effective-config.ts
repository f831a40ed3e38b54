// Loads the configuration the way every command does: .env, environment, then App Configuration when set.
import { loadConfig, type LoadedConfig } from "../config/load.ts";
import { loadAppConfiguration } from "../config/appconfig.ts";

export async function loadEffectiveConfig(envFile?: string): Promise<LoadedConfig> {
  return await loadConfig({
    dotenvPath: envFile ?? undefined,
    loadAppConfig: (pre) =>
      loadAppConfiguration(pre, {
        // Only for local fakes in tests; never needed against Azure.
        allowInsecureConnection: process.env.CFW_APP_CONFIG_ALLOW_INSECURE === "1",
      }),
  });
}
