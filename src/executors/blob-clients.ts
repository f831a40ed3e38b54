// Blob service clients for executors, shared per process. An account named in a pipeline resolves to:
// BLOB_STORAGE_CONNECTION_STRING when its AccountName matches (or no account is named; needed for Azurite),
// otherwise https://<account>.blob.core.windows.net with a shared key (when given) or DefaultAzureCredential.
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import type { Config } from "../config/schema.ts";
import { azureCredential } from "../config/credential.ts";

const clients = new Map<string, BlobServiceClient>();

export function connectionStringAccount(connectionString: string): string | undefined {
  if (/UseDevelopmentStorage=true/i.test(connectionString)) return "devstoreaccount1";
  return /AccountName=([^;]+)/i.exec(connectionString)?.[1];
}

export interface BlobAccountOptions {
  account?: string;
  /** Shared key from the executor's settings (azure_key_credential). */
  accountKey?: string;
  /** Explicit connection string from the executor's settings. */
  connectionString?: string;
}

export function blobServiceClient(config: Config, opts: BlobAccountOptions = {}): BlobServiceClient {
  const key = JSON.stringify([opts.account ?? "", opts.connectionString ? "cs" : "", opts.accountKey ? "key" : ""]);
  const cached = clients.get(key + (opts.connectionString ?? "") + (opts.accountKey ?? ""));
  if (cached) return cached;
  let client: BlobServiceClient;
  const shared = config.BLOB_STORAGE_CONNECTION_STRING;
  const account = opts.account || config.BLOB_STORAGE_ACCOUNT_NAME;
  if (opts.connectionString) {
    client = BlobServiceClient.fromConnectionString(opts.connectionString);
  } else if (shared && (!account || connectionStringAccount(shared) === account)) {
    client = BlobServiceClient.fromConnectionString(shared);
  } else if (account) {
    const url = `https://${account}.blob.core.windows.net`;
    client = opts.accountKey
      ? new BlobServiceClient(url, new StorageSharedKeyCredential(account, opts.accountKey))
      : new BlobServiceClient(url, azureCredential());
  } else {
    throw new Error(
      "no blob storage account: name one in the executor settings (blob_storage_account) or set BLOB_STORAGE_ACCOUNT_NAME / BLOB_STORAGE_CONNECTION_STRING",
    );
  }
  clients.set(key + (opts.connectionString ?? "") + (opts.accountKey ?? ""), client);
  return client;
}
