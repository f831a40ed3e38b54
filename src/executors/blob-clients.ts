// Blob service clients for executors, shared per process. An account named in a pipeline resolves to:
// BLOB_STORAGE_CONNECTION_STRING when its AccountName matches (or no account is named; needed for Azurite),
// otherwise https://<account>.blob.core.windows.net with a shared key (when given) or DefaultAzureCredential.
// Endpoints come only from the operator's connection string or from a checked account name (storage-account.ts):
// a pipeline can name an account, never a host.
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import type { Config } from "../config/schema.ts";
import { azureCredential } from "../config/credential.ts";
import { blobEndpoint } from "./storage-account.ts";
import { serviceErrorText } from "../util/errors.ts";
import { storageHttpClient } from "../net/sdk-http-client.ts";

const clients = new Map<string, BlobServiceClient>();

export function connectionStringAccount(connectionString: string): string | undefined {
  if (/UseDevelopmentStorage=true/i.test(connectionString)) return "devstoreaccount1";
  return /AccountName=([^;]+)/i.exec(connectionString)?.[1];
}

export interface BlobAccountOptions {
  account?: string;
  /** Shared key from the executor's settings (azure_key_credential). */
  accountKey?: string;
}

export function blobServiceClient(config: Config, opts: BlobAccountOptions = {}): BlobServiceClient {
  // Everything that decides the endpoint and credential is part of the key (tests run several Azurites in one process).
  const key = JSON.stringify([
    opts.account ?? "",
    opts.accountKey ?? "",
    config.BLOB_STORAGE_CONNECTION_STRING,
    config.BLOB_STORAGE_ACCOUNT_NAME,
    config.SDK_HTTP_CLIENT,
  ]);
  const cached = clients.get(key);
  if (cached) return cached;
  let client: BlobServiceClient;
  const shared = config.BLOB_STORAGE_CONNECTION_STRING;
  const account = opts.account || config.BLOB_STORAGE_ACCOUNT_NAME;
  // The same transport as the Cosmos and queue clients (SDK_HTTP_CLIENT): listings, claim checks and small reads go
  // through fetch; downloads that stream are handed to the SDK's own client by the transport itself.
  const options = { httpClient: storageHttpClient(config.SDK_HTTP_CLIENT) };
  if (shared && (!account || connectionStringAccount(shared) === account)) {
    client = BlobServiceClient.fromConnectionString(shared, options);
  } else if (account) {
    // Throws for anything but an account name, BLOB_STORAGE_ACCOUNT_NAME included.
    const url = blobEndpoint(account);
    client = opts.accountKey
      ? new BlobServiceClient(url, new StorageSharedKeyCredential(account, opts.accountKey), options)
      : new BlobServiceClient(url, azureCredential(), options);
  } else {
    throw new Error(
      "no blob storage account: name one in the executor settings (blob_storage_account) or set BLOB_STORAGE_ACCOUNT_NAME / BLOB_STORAGE_CONNECTION_STRING",
    );
  }
  clients.set(key, client);
  return client;
}

/** A readable message for a blob storage error: util/errors.ts serviceErrorText with what was being done. */
export function blobErrorMessage(err: unknown, what: string): string {
  return serviceErrorText(err, what);
}
