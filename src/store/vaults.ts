// Reads of vaults and pipelines for the source worker. The Python worker's
// `SELECT DISTINCT c.id, c.pipeline_id …` is not supported by the Cosmos emulator; a plain SELECT deduplicated
// here gives the same result on both.
import * as v from "valibot";
import type { Container } from "@azure/cosmos";
import { cosmosStatus } from "./cosmos.ts";
import {
  describeIssues,
  type PipelineDoc,
  PipelineDocSchema,
  type VaultDoc,
  VaultDocSchema,
} from "../model/documents.ts";

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
      malformed.push({ id, problem: describeIssues(parsed.issues) });
      continue;
    }
    if (parsed.output.enabled !== false) byId.set(parsed.output.id, parsed.output);
  }
  const vaults = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  return { vaults, malformed };
}

async function readRaw(container: Container, id: string): Promise<unknown> {
  try {
    const response = await container.item(id, id).read();
    if (response.statusCode === 404) return undefined;
    return response.resource;
  } catch (err) {
    if (cosmosStatus(err) === 404) return undefined;
    throw err;
  }
}

export type DocRead<T> = { found: true; doc: T } | { found: false } | { found: true; doc?: undefined; problem: string };

export async function readVault(container: Container, id: string): Promise<DocRead<VaultDoc>> {
  const raw = await readRaw(container, id);
  if (raw === undefined) return { found: false };
  const parsed = v.safeParse(VaultDocSchema, raw);
  return parsed.success ? { found: true, doc: parsed.output } : { found: true, problem: describeIssues(parsed.issues) };
}

export async function readPipeline(container: Container, id: string): Promise<DocRead<PipelineDoc>> {
  const raw = await readRaw(container, id);
  if (raw === undefined) return { found: false };
  const parsed = v.safeParse(PipelineDocSchema, raw);
  return parsed.success ? { found: true, doc: parsed.output } : { found: true, problem: describeIssues(parsed.issues) };
}
