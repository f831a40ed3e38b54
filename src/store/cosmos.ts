// Cosmos DB client and the ContentFlow containers (all partitioned by /id, as in the ContentFlow bicep).
import { type Container, CosmosClient, type Database } from "@azure/cosmos";
import type { Config } from "../config/schema.ts";
import { azureCredential } from "../config/credential.ts";
import { sleep } from "../util/sleep.ts";
import { sdkHttpClient } from "../net/sdk-http-client.ts";

export interface CosmosStore {
  client: CosmosClient;
  database: Database;
  pipelines: Container;
  vaults: Container;
  executions: Container;
  locks: Container;
  checkpoints: Container;
  close(): void;
}

export function createCosmosClient(config: Config): CosmosClient {
  const connectionPolicy = {
    enableEndpointDiscovery: config.COSMOS_DB_ENDPOINT_DISCOVERY,
    requestTimeout: 30_000,
    retryOptions: { maxRetryAttemptCount: 9, fixedRetryIntervalInMilliseconds: 0, maxWaitTimeInSeconds: 30 },
  };
  const common = {
    endpoint: config.COSMOS_DB_ENDPOINT,
    connectionPolicy,
    httpClient: sdkHttpClient(config.SDK_HTTP_CLIENT),
  };
  if (config.COSMOS_DB_KEY) return new CosmosClient({ ...common, key: config.COSMOS_DB_KEY });
  return new CosmosClient({ ...common, aadCredentials: azureCredential() });
}

export const CONTAINER_SETTINGS = [
  "COSMOS_DB_CONTAINER_PIPELINES",
  "COSMOS_DB_CONTAINER_VAULTS",
  "COSMOS_DB_CONTAINER_VAULT_EXECUTIONS",
  "COSMOS_DB_CONTAINER_LOCKS",
  "COSMOS_DB_CONTAINER_CRAWL_CHECKPOINTS",
] as const;

/** Creates the database and containers when missing (COSMOS_DB_CREATE_CONTAINERS, demo and tests). */
export async function ensureCosmosContainers(client: CosmosClient, config: Config): Promise<void> {
  const { database } = await withConflictRetry(() => client.databases.createIfNotExists({ id: config.COSMOS_DB_NAME }));
  for (const setting of CONTAINER_SETTINGS) {
    await withConflictRetry(() =>
      database.containers.createIfNotExists({ id: config[setting], partitionKey: { paths: ["/id"] } })
    );
  }
}

/** createIfNotExists is read-then-create: workers starting together can see 409 from each other; read again. */
async function withConflictRetry<T>(op: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (cosmosStatus(err) !== 409 || attempt >= 3) throw err;
      await sleep(50 + Math.random() * 100);
    }
  }
}

export async function openCosmosStore(config: Config, client = createCosmosClient(config)): Promise<CosmosStore> {
  if (config.COSMOS_DB_CREATE_CONTAINERS) await ensureCosmosContainers(client, config);
  const database = client.database(config.COSMOS_DB_NAME);
  return {
    client,
    database,
    pipelines: database.container(config.COSMOS_DB_CONTAINER_PIPELINES),
    vaults: database.container(config.COSMOS_DB_CONTAINER_VAULTS),
    executions: database.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS),
    locks: database.container(config.COSMOS_DB_CONTAINER_LOCKS),
    checkpoints: database.container(config.COSMOS_DB_CONTAINER_CRAWL_CHECKPOINTS),
    close: () => client.dispose(),
  };
}

/** Status code of a Cosmos SDK error (or undefined for network errors). */
export function cosmosStatus(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.code === "number") return e.code;
  if (typeof e?.statusCode === "number") return e.statusCode;
  return undefined;
}

/** Errors worth retrying later: throttling, timeouts, server errors and network failures. */
export function isTransientCosmosError(err: unknown): boolean {
  const status = cosmosStatus(err);
  if (status === undefined) return true;
  return status === 408 || status === 429 || status === 449 || status === 503 || status >= 500;
}
