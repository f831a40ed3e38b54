// The processing side of claim-check messages: fetch the task a pointer names (see sender.ts for the writing side),
// and delete the blob once the task is done.
import type { BlobServiceClient } from "@azure/storage-blob";
import type { ClaimCheckMessage } from "../model/task-envelope.ts";
import { readStreamLimited, ResponseTooLargeError } from "../util/read-limited.ts";

/** `problem`: why the blob cannot be used although it may exist (too large); absent when it is missing. */
export type ClaimCheckRead = { found: true; text: string } | { found: false; problem?: string };

/** The default of MAX_CLAIM_CHECK_BYTES. */
export const DEFAULT_MAX_CLAIM_CHECK_BYTES = 100 * 1024 * 1024;

function isNotFound(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string };
  return e?.statusCode === 404 || e?.code === "BlobNotFound" || e?.code === "ContainerNotFound";
}

/**
 * Downloads the blob's text, at most `maxBytes` (MAX_CLAIM_CHECK_BYTES; the message is untrusted and the blob could
 * be anything). A missing blob is `found: false`; a larger one `found: false` with the problem, without downloading
 * it when its size is known up front. Any other error is thrown (worth a retry).
 */
export async function readClaimCheck(
  blobs: BlobServiceClient,
  pointer: ClaimCheckMessage,
  signal: AbortSignal,
  maxBytes = DEFAULT_MAX_CLAIM_CHECK_BYTES,
): Promise<ClaimCheckRead> {
  const { container, blob } = pointer.claim_check;
  const what = `claim-check blob ${container}/${blob}`;
  try {
    const response = await blobs.getContainerClient(container).getBlobClient(blob).download(0, undefined, {
      abortSignal: signal,
    });
    if (!response.readableStreamBody) return { found: true, text: "" };
    const body = await readStreamLimited(response.readableStreamBody, maxBytes, what, {
      limitSetting: "MAX_CLAIM_CHECK_BYTES",
      declaredBytes: response.contentLength,
    });
    return { found: true, text: new TextDecoder().decode(body) };
  } catch (err) {
    if (isNotFound(err)) return { found: false };
    if (err instanceof ResponseTooLargeError) return { found: false, problem: err.message };
    throw err;
  }
}

export async function deleteClaimCheck(
  blobs: BlobServiceClient,
  pointer: ClaimCheckMessage,
  signal: AbortSignal,
): Promise<void> {
  const { container, blob } = pointer.claim_check;
  await blobs.getContainerClient(container).getBlobClient(blob).deleteIfExists({ abortSignal: signal });
}

/**
 * Claim-check reads and deletes as a processing worker does them: only inside `container` (CLAIM_CHECK_CONTAINER_NAME).
 * A queue message is untrusted; without this, a message naming any container the worker's identity can reach
 * could make the worker read that blob, or delete it (a task whose execution is already completed has its
 * claim-check blob deleted without being read).
 */
export function claimCheckAccess(
  blobs: () => BlobServiceClient,
  opts: { container: string; maxBytes: number },
): {
  read(claim: ClaimCheckMessage, signal: AbortSignal): Promise<ClaimCheckRead>;
  delete(claim: ClaimCheckMessage, signal: AbortSignal): Promise<void>;
} {
  const foreign = (claim: ClaimCheckMessage) => claim.claim_check.container !== opts.container;
  return {
    read: async (claim, signal) => {
      if (foreign(claim)) {
        return {
          found: false,
          problem: `claim-check container '${claim.claim_check.container}' is not CLAIM_CHECK_CONTAINER_NAME ` +
            `('${opts.container}'); refused`,
        };
      }
      return await readClaimCheck(blobs(), claim, signal, opts.maxBytes);
    },
    delete: async (claim, signal) => {
      if (!foreign(claim)) await deleteClaimCheck(blobs(), claim, signal);
    },
  };
}
