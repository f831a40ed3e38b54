// The blob an item points at, as azure_blob_input_discovery writes it (id.source_type azure_blob, id.source_name =
// storage account, id.container, id.path), and reading its bytes: with the worker's blob credentials
// (blob-clients.ts), at most a given number of bytes, under the task's abort signal. The one place executors
// download a document blob (the blob content retrievers, and the AI extractors when an item carries no document).
import { Buffer } from "node:buffer";
import type { Content } from "../model/content.ts";
import type { Config } from "../config/schema.ts";
import { blobErrorMessage, blobServiceClient } from "./blob-clients.ts";
import { readStreamLimited, ResponseTooLargeError } from "../util/read-limited.ts";
import { isStorageAccountName, notAnAccountName } from "./storage-account.ts";

export interface BlobLocation {
  /** Storage account; undefined means the worker's own (BLOB_STORAGE_ACCOUNT_NAME / BLOB_STORAGE_CONNECTION_STRING). */
  account?: string;
  container: string;
  path: string;
}

export interface ReadBlobOptions {
  maxBytes: number;
  /** The setting that raises `maxBytes`, named in the error when a blob is larger. */
  limitSetting: string;
  signal: AbortSignal;
  /** Shared key from the executor's settings; without it the worker's credentials are used. */
  accountKey?: string;
}

/** Account name from id.source_name, else from a https://<account>.blob.… canonical id; undefined when neither. */
export function itemBlobAccount(item: Content): string | undefined {
  if (item.id.source_name) return item.id.source_name;
  return /^https?:\/\/([^./]+)\.blob\./.exec(item.id.canonical_id)?.[1];
}

/** The blob a discovered item points at, or undefined when it does not point at one (another source, no path). */
export function discoveredBlob(item: Content): BlobLocation | undefined {
  const { source_type, container, path } = item.id;
  if (source_type !== "azure_blob" || !container || !path) return undefined;
  const account = itemBlobAccount(item);
  return account ? { account, container, path } : undefined;
}

/** "blob <container>/<path>", as messages name a blob. */
export function blobName(at: BlobLocation): string {
  return `blob ${at.container}/${at.path}`;
}

/**
 * The blob's bytes. Fails, naming the blob, when it is gone (`… not found`), unreadable, or larger than `maxBytes`
 * (ResponseTooLargeError; reading stops there instead of filling the memory).
 */
export async function readBlobBytes(config: Config, at: BlobLocation, opts: ReadBlobOptions): Promise<Buffer> {
  const what = blobName(at);
  // The account comes from the item (a queue message) or a setting: it must not be able to send the worker's token
  // to another host (see storage-account.ts).
  if (at.account !== undefined && !isStorageAccountName(at.account)) {
    throw new Error(`${what}: ${notAnAccountName(at.account)}`);
  }
  const service = blobServiceClient(config, { account: at.account, accountKey: opts.accountKey });
  const blob = service.getContainerClient(at.container).getBlobClient(at.path);
  try {
    const response = await blob.download(0, undefined, { abortSignal: opts.signal });
    const body = response.readableStreamBody
      ? await readStreamLimited(response.readableStreamBody, opts.maxBytes, what, {
        limitSetting: opts.limitSetting,
        declaredBytes: response.contentLength,
      })
      : new Uint8Array();
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  } catch (err) {
    if (opts.signal.aborted || err instanceof ResponseTooLargeError) throw err;
    throw new Error(blobErrorMessage(err, what));
  }
}
