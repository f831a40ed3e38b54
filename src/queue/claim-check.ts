// The processing side of claim-check messages: fetch the task a pointer names (see sender.ts for the writing side),
// and delete the blob once the task is done.
import type { BlobServiceClient } from "@azure/storage-blob";
import type { ClaimCheckMessage } from "../model/task-envelope.ts";

export type ClaimCheckRead = { found: true; text: string } | { found: false };

function isNotFound(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string };
  return e?.statusCode === 404 || e?.code === "BlobNotFound" || e?.code === "ContainerNotFound";
}

/** Downloads the blob's text; a missing blob is `found: false`, any other error is thrown (worth a retry). */
export async function readClaimCheck(
  blobs: BlobServiceClient,
  pointer: ClaimCheckMessage,
  signal: AbortSignal,
): Promise<ClaimCheckRead> {
  const { container, blob } = pointer.claim_check;
  try {
    const body = await blobs.getContainerClient(container).getBlobClient(blob).downloadToBuffer(0, undefined, {
      abortSignal: signal,
    });
    return { found: true, text: body.toString("utf8") };
  } catch (err) {
    if (isNotFound(err)) return { found: false };
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
