// Loads the configuration the way every command does: .env, environment, then App Configuration when set.
//
// A one-shot command fails at once when App Configuration cannot be read. The supervisor passes `wait` instead: it
// keeps trying with backoff (a store that is unreachable for a moment, or a role assignment that is still
// propagating, must not stop a systemd unit for good), except where the environment alone holds every required
// setting: then, as the Python worker does, it warns and runs on the environment (restart the service to apply the
// store's values once it answers).
import process from "node:process";
import { loadConfig, type LoadedConfig, type LoadOptions, requireConnectionSettings } from "../config/load.ts";
import { appConfigRetryDelayMs, AppConfigUnavailableError, loadAppConfiguration } from "../config/appconfig.ts";
import type { Config } from "../config/schema.ts";
import { registerConfiguredEndpoints } from "../config/endpoints.ts";

export interface AppConfigWait {
  /** After each failed read: the configuration from the environment alone, the failure, the wait before the next. */
  onRetry(pre: Config, err: AppConfigUnavailableError, delayMs: number, attempt: number): void | Promise<void>;
  /** The store could not be read and the environment holds every required setting: running on it. */
  onEnvironmentOnly(pre: Config, err: AppConfigUnavailableError): void;
  /** Stops the waiting (shutdown requested): loadEffectiveConfig then rejects with this signal's reason. */
  signal: AbortSignal;
  /** Only for tests: the wait between attempts. */
  delayMs?: (attempt: number) => number;
}

/** True when the environment alone has the settings every long-running role needs. */
export function environmentIsComplete(pre: Config): boolean {
  try {
    requireConnectionSettings(pre);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

type ReadAppConfig = NonNullable<LoadOptions["loadAppConfig"]>;

/** `read` made to wait for the store as described above (the supervisor's App Configuration source). */
export function waitingForAppConfig(read: ReadAppConfig, wait: AppConfigWait): ReadAppConfig {
  return async (pre) => {
    for (let attempt = 1;; attempt++) {
      try {
        return await read(pre);
      } catch (err) {
        if (!(err instanceof AppConfigUnavailableError)) throw err;
        if (environmentIsComplete(pre)) {
          wait.onEnvironmentOnly(pre, err);
          return { values: {}, keys: {} };
        }
        const delay = wait.delayMs?.(attempt) ?? appConfigRetryDelayMs(attempt, Math.random());
        await wait.onRetry(pre, err, delay, attempt);
        await sleep(delay, wait.signal);
      }
    }
  };
}

export async function loadEffectiveConfig(envFile?: string, wait?: AppConfigWait): Promise<LoadedConfig> {
  const read: ReadAppConfig = (pre) =>
    loadAppConfiguration(pre, {
      // Only for local fakes in tests; never needed against Azure.
      allowInsecureConnection: process.env.CFW_APP_CONFIG_ALLOW_INSECURE === "1",
    });
  const loaded = await loadConfig({
    dotenvPath: envFile ?? undefined,
    // A file named with --env-file is the unit's EnvironmentFile= (/etc/contentflow-worker/env): read it as systemd
    // does, so what `config` shows is what the service gets. ./.env stays dotenv.
    dotenvFormat: envFile ? "systemd" : "dotenv",
    loadAppConfig: wait ? waitingForAppConfig(read, wait) : read,
  });
  registerConfiguredEndpoints(loaded.config);
  return loaded;
}
