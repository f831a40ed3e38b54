// The one vault setting the processing worker needs: whether executions keep their full output.
// Read before the pipeline runs, so a storage error here retries the task instead of failing it after the work
// is done (the Python worker turned any error into "do not save", treating a passing outage as a setting).
import type { Container } from "@azure/cosmos";
import type { VaultDoc } from "../model/documents.ts";
import type { DocRead } from "./read-doc.ts";
import { readVaultDoc } from "./vaults.ts";

/**
 * `save_execution_output` of the vault. A missing vault (deleted meanwhile), a task without a vault, or an invalid
 * document store identifiers only; other errors are thrown. `read` replaces the plain point read (a cache).
 */
export async function readSaveExecutionOutput(
  container: Container,
  vaultId: string | null | undefined,
  signal?: AbortSignal,
  read: (id: string, load: () => Promise<DocRead<VaultDoc>>) => Promise<DocRead<VaultDoc>> = (_id, load) => load(),
): Promise<boolean> {
  if (!vaultId) return false;
  const doc = await read(vaultId, () => readVaultDoc(container, vaultId, signal));
  return doc.kind === "found" && doc.doc.save_execution_output === true;
}
