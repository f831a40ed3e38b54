// The endpoints of the services a configuration points at, registered with the dependency-error describer so an
// error that does not carry its request's URL (the Cosmos SDK's) still names where the call went.
import type { Config } from "./schema.ts";
import { registerDependencyEndpoint } from "../util/dependency-error.ts";

function part(connectionString: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|;)\\s*${name}=([^;]*)`, "i").exec(connectionString);
  return m?.[1]?.trim() || undefined;
}

/** A storage connection string's endpoint for one service (explicit `<Service>Endpoint`, account + suffix, Azurite). */
export function storageEndpoint(connectionString: string, service: "queue" | "blob"): string | undefined {
  if (!connectionString) return undefined;
  const explicit = part(connectionString, service === "queue" ? "QueueEndpoint" : "BlobEndpoint");
  if (explicit) return explicit;
  if (/UseDevelopmentStorage=true/i.test(connectionString)) {
    return service === "queue" ? "http://127.0.0.1:10001" : "http://127.0.0.1:10000";
  }
  const account = part(connectionString, "AccountName");
  if (!account) return undefined;
  const protocol = part(connectionString, "DefaultEndpointsProtocol") ?? "https";
  const suffix = part(connectionString, "EndpointSuffix") ?? "core.windows.net";
  return `${protocol}://${account}.${service}.${suffix}`;
}

export function registerConfiguredEndpoints(config: Config): void {
  registerDependencyEndpoint("Cosmos DB", config.COSMOS_DB_ENDPOINT);
  registerDependencyEndpoint(
    "Storage queue",
    config.STORAGE_ACCOUNT_WORKER_QUEUE_URL || storageEndpoint(config.STORAGE_QUEUE_CONNECTION_STRING, "queue"),
  );
  registerDependencyEndpoint(
    "Blob storage",
    storageEndpoint(config.BLOB_STORAGE_CONNECTION_STRING || config.STORAGE_QUEUE_CONNECTION_STRING, "blob") ??
      (config.BLOB_STORAGE_ACCOUNT_NAME
        ? `https://${config.BLOB_STORAGE_ACCOUNT_NAME}.blob.core.windows.net`
        : undefined),
  );
  registerDependencyEndpoint(
    "App Configuration",
    config.AZURE_APP_CONFIG_ENDPOINT || part(config.AZURE_APP_CONFIG_CONNECTION_STRING, "Endpoint"),
  );
}
