// Claim-check blobs: the one rule for their names (written by sender.ts, checked here for every pointer read from a
// queue), and the processing side: fetch the task a pointer names, and delete the blob once the task is done.
//
// A pointer comes from a queue message, which is untrusted. The SDK normalises a blob name as a URL path, so
// `../documents/contract.pdf`, `x/../../other/y`, `%2e%2e/…` or `..\…` would address a blob in another container. A
// pointer is therefore honoured only when its blob name is exactly what the writer makes of its task id
// (`tasks/<task_id>.json`, the task id of letters, digits, `_` and `-`), and its container is
// CLAIM_CHECK_CONTAINER_NAME. decodeMessage (decode.ts) refuses any other name, so the worker poisons such a message
// with the reason; claimCheckAccess, which the worker and every CLI command read and delete through, checks both.
import type { BlobServiceClient } from "@azure/storage-blob";
import type { ClaimCheckMessage } from "../model/task-envelope.ts";
import { readStreamLimited, ResponseTooLargeError } from "../util/read-limited.ts";

/** Task ids a claim-check blob may be named after (ours are `task_` + 12 hex digits). */
const CLAIM_CHECK_TASK_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** The blob a task's claim check is stored in; throws for a task id that cannot name one safely. */
export function claimCheckBlobName(taskId: string): string {
  if (!CLAIM_CHECK_TASK_ID.test(taskId)) {
    throw new Error(
      `task id ${JSON.stringify(taskId.slice(0, 200))} cannot name a claim-check blob (letters, digits, _ and - only)`,
    );
  }
  return `tasks/${taskId}.json`;
}

/**
 * Why a pointer's blob name is not one the worker writes (undefined when it is): the name must be exactly
 * `tasks/<task_id>.json` for the pointer's own task id. Checked before anything is read or deleted.
 */
export function claimCheckNameProblem(claim: ClaimCheckMessage["claim_check"]): string | undefined {
  const taskId = claim.task_id;
  if (CLAIM_CHECK_TASK_ID.test(taskId) && claim.blob === `tasks/${taskId}.json`) return undefined;
  return `claim-check blob name ${JSON.stringify(claim.blob.slice(0, 300))} is not tasks/<task_id>.json for its ` +
    `task ${JSON.stringify(taskId.slice(0, 200))}; refused (never read or deleted)`;
}

/**
 * Where a poison record's spilled original may live (task-queue.ts writes `poison/<queue>/<message id>.txt` in
 * CLAIM_CHECK_CONTAINER_NAME); undefined when `where` is such a blob. The poison queue can be written by anyone who
 * can write the task queue's account, so `poison show|purge` check this before reading or deleting.
 */
export function spilledOriginalProblem(
  where: { container: string; blob: string },
  container: string,
): string | undefined {
  if (where.container === container && /^poison\/[a-z0-9-]{1,63}\/[A-Za-z0-9-]{1,128}\.txt$/.test(where.blob)) {
    return undefined;
  }
  return `spilled original ${JSON.stringify(`${where.container}/${where.blob}`.slice(0, 300))} is not ` +
    `poison/<queue>/<message id>.txt in CLAIM_CHECK_CONTAINER_NAME ('${container}'); refused`;
}

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

/** Why a pointer may not be followed: a container other than `container`, or a name the worker never writes. */
export function claimCheckPointerProblem(claim: ClaimCheckMessage, container: string): string | undefined {
  if (claim.claim_check.container !== container) {
    return `claim-check container '${claim.claim_check.container}' is not CLAIM_CHECK_CONTAINER_NAME ` +
      `('${container}'); refused`;
  }
  return claimCheckNameProblem(claim.claim_check);
}

/**
 * Claim-check reads and deletes as a processing worker and the CLI commands do them: only blobs named as the
 * worker names them, inside `container` (CLAIM_CHECK_CONTAINER_NAME). A queue message is untrusted; without this,
 * a message naming another container, or a name that climbs out of this one, could make the worker read that
 * blob, or delete it (a task whose execution is already completed has its claim-check blob deleted without being
 * read).
 */
export function claimCheckAccess(
  blobs: () => BlobServiceClient,
  opts: { container: string; maxBytes: number },
): {
  read(claim: ClaimCheckMessage, signal: AbortSignal): Promise<ClaimCheckRead>;
  delete(claim: ClaimCheckMessage, signal: AbortSignal): Promise<void>;
} {
  return {
    read: async (claim, signal) => {
      const problem = claimCheckPointerProblem(claim, opts.container);
      if (problem) return { found: false, problem };
      return await readClaimCheck(blobs(), claim, signal, opts.maxBytes);
    },
    delete: async (claim, signal) => {
      if (!claimCheckPointerProblem(claim, opts.container)) await deleteClaimCheck(blobs(), claim, signal);
    },
  };
}
