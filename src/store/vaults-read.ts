// The one vault setting the processing worker needs: whether executions keep their full output.
// Read before the pipeline runs, so a storage error here retries the task instead of failing it after the work
// is done (the Python worker turned any error into "do not save", its bug P7).
import * as v from "valibot";
import type { Container } from "@azure/cosmos";
import { cosmosStatus } from "./cosmos.ts";
import { VaultDocSchema } from "../model/documents.ts";

/**
 * `save_execution_output` of the vault. A missing vault (deleted meanwhile), a task without a vault, or an invalid
 * document store identifiers only; other errors are thrown.
 */
export async function readSaveExecutionOutput(
  container: Container,
  vaultId: string | null | undefined,
  signal?: AbortSignal,
): Promise<boolean> {
  if (!vaultId) return false;
  let raw: unknown;
  try {
    const response = await container.item(vaultId, vaultId).read({ abortSignal: signal });
    if (response.statusCode === 404) return false;
    raw = response.resource;
  } catch (err) {
    if (cosmosStatus(err) === 404) return false;
    throw err;
  }
  const parsed = v.safeParse(VaultDocSchema, raw);
  return parsed.success && parsed.output.save_execution_output === true;
}
