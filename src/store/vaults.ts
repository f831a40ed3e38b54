// Reads of vaults for the source worker. The Python worker's
// `SELECT DISTINCT c.id, c.pipeline_id …` is not supported by the Cosmos emulator; a plain SELECT deduplicated
// here gives the same result on both.
import * as v from "valibot";
import type { Container } from "@azure/cosmos";
import { type VaultDoc, VaultDocSchema } from "../model/documents.ts";
import { type DocRead, readDoc } from "./read-doc.ts";
import { issuesText } from "../util/valibot-issues.ts";

export interface EnabledVaults {
  vaults: VaultDoc[];
  /** Documents that failed validation, reported instead of crawled. */
  malformed: { id: string; problem: string }[];
}

export async function listEnabledVaults(container: Container): Promise<EnabledVaults> {
  const { resources } = await container.items
    .query<unknown>({ query: "SELECT * FROM c WHERE c.enabled = true" })
    .fetchAll();
  const byId = new Map<string, VaultDoc>();
  const malformed: EnabledVaults["malformed"] = [];
  for (const raw of resources) {
    const parsed = v.safeParse(VaultDocSchema, raw);
    if (!parsed.success) {
      const id = typeof (raw as { id?: unknown })?.id === "string" ? (raw as { id: string }).id : "(no id)";
      malformed.push({ id, problem: issuesText(parsed.issues) });
      continue;
    }
    if (parsed.output.enabled !== false) byId.set(parsed.output.id, parsed.output);
  }
  const vaults = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  return { vaults, malformed };
}

/** The vault document, validated (see read-doc.ts). */
export function readVaultDoc(container: Container, id: string, signal?: AbortSignal): Promise<DocRead<VaultDoc>> {
  return readDoc(container, id, VaultDocSchema, signal);
}
