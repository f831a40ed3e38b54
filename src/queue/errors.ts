// How storage queue errors are told apart: lost message ownership, a missing queue, or a passing outage.
import { serviceErrorText } from "../util/errors.ts";

interface StorageErrorLike {
  statusCode?: number;
  code?: string;
  name?: string;
}

function fields(err: unknown): StorageErrorLike {
  return (typeof err === "object" && err !== null ? err : {}) as StorageErrorLike;
}

/**
 * The message is no longer ours: another receive got a newer pop receipt (400 PopReceiptMismatch), or the message
 * was deleted (404 MessageNotFound).
 */
export function isHoldLost(err: unknown): boolean {
  const e = fields(err);
  if (e.code === "PopReceiptMismatch" || e.code === "MessageNotFound") return true;
  return e.statusCode === 404 && e.code !== "QueueNotFound";
}

export function isQueueNotFound(err: unknown): boolean {
  const e = fields(err);
  return e.code === "QueueNotFound" || (e.statusCode === 404 && e.code === undefined);
}

/** Network failures, timeouts, throttling and server errors: retry later. */
export function isTransientStorageError(err: unknown): boolean {
  const e = fields(err);
  if (e.name === "AbortError" || e.name === "TimeoutError") return true;
  if (e.statusCode === undefined || e.statusCode === 0) return true;
  return e.statusCode === 408 || e.statusCode === 429 || e.statusCode >= 500;
}

/** A short description without request details (URLs carry SAS tokens; headers may carry keys). */
export function storageErrorSummary(err: unknown): string {
  return serviceErrorText(err);
}
