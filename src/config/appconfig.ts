// Azure App Configuration source. Like the Python worker, `contentflow.common.*` (the keys the reference
// infrastructure shares between the ContentFlow API and the worker: Cosmos endpoint, queue URL and name, blob
// account) is always read first, then the filters of APP_CONFIG_KEY_FILTERS (default `contentflow.worker.*`), so a
// worker key overrides a common key of the same name. Each filter's prefix (the part before '*') is trimmed, and we
// remember which App Configuration key every value came from (`contentflow-worker config` shows it).
//
// Labels: like the Python worker (whose provider selects the empty label by default), the unlabelled keys are read
// first. Then, for each label of APP_CONFIG_LABEL in order, the same filters again with that label, so a VM or a
// group of VMs can get its own values (`contentflow.worker.NUM_SOURCE_WORKERS` labelled `vm-group-a`) while the
// unlabelled keys stay exactly as the reference deployment wrote them. Each label is its own request: the service
// does not promise an order between labels within one answer.
import { AppConfigurationClient } from "@azure/app-configuration";
import type { Config } from "./schema.ts";
import { azureCredential } from "./credential.ts";
import { type DependencyFailure, describeDependencyError } from "../util/dependency-error.ts";

export interface AppConfigOptions {
  /** Only for tests against a local fake server over plain HTTP. */
  allowInsecureConnection?: boolean;
}

/**
 * Settings read from App Configuration: `values[NAME]`, the full key it came from in `keys[NAME]`, and the label
 * of that key in `labels[NAME]` (absent for an unlabelled key).
 */
export interface AppConfigValues {
  values: Record<string, string>;
  keys: Record<string, string>;
  labels?: Record<string, string>;
}

/** The label filter the REST API reads as "no label". */
export const NO_LABEL = "\0";

/** Label filters in the order they are read (a later one wins): no label, then APP_CONFIG_LABEL's labels. */
export function effectiveLabelFilters(labels: readonly string[]): string[] {
  return [NO_LABEL, ...new Set(labels.map((l) => l.trim()).filter((l) => l !== ""))];
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

/** The store could not be read: unreachable, refused, throttled… (`failure` says which, for /ready and the log). */
export class AppConfigUnavailableError extends Error {
  constructor(readonly failure: DependencyFailure, options?: { cause?: unknown }) {
    super(`could not read Azure App Configuration: ${failure.text}`, options);
    this.name = "AppConfigUnavailableError";
  }
}

/** The store's endpoint: AZURE_APP_CONFIG_ENDPOINT, or the connection string's Endpoint= part. */
export function appConfigEndpoint(config: Config): string {
  return config.AZURE_APP_CONFIG_ENDPOINT ||
    /Endpoint=([^;]+)/i.exec(config.AZURE_APP_CONFIG_CONNECTION_STRING)?.[1] || "";
}

/**
 * Wait before attempt `attempt + 1` after `attempt` failed reads at start: 1 s, doubling, at most 30 s; `random`
 * (0..1) spreads a fleet that lost the store at the same moment over ±20 %.
 */
export function appConfigRetryDelayMs(attempt: number, random = 0.5): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random));
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
    const failure = describeDependencyError(err, {
      service: "App Configuration",
      endpoint: appConfigEndpoint(config) || undefined,
    });
    throw new AppConfigUnavailableError(failure, { cause: err });
  }
}

async function listSettings(client: AppConfigurationClient, config: Config): Promise<AppConfigValues> {
  const out: AppConfigValues = { values: {}, keys: {}, labels: {} };
  for (const label of effectiveLabelFilters(config.APP_CONFIG_LABEL)) {
    for (const filter of effectiveKeyFilters(config.APP_CONFIG_KEY_FILTERS)) {
      const prefix = keyPrefix(filter);
      for await (const setting of client.listConfigurationSettings({ keyFilter: filter, labelFilter: label })) {
        if (setting.value === undefined || setting.value === null) continue;
        const name = setting.key.startsWith(prefix) ? setting.key.slice(prefix.length) : setting.key;
        out.values[name] = setting.value;
        out.keys[name] = setting.key;
        if (setting.label) out.labels![name] = setting.label;
        else delete out.labels![name];
      }
    }
  }
  return out;
}
