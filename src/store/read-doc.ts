// The one point read of a Cosmos document: 404 means missing, anything else that fails is thrown (worth a retry
// later), and what comes back is validated against its schema before anyone uses it.
import * as v from "valibot";
import type { Container } from "@azure/cosmos";
import { cosmosStatus } from "./cosmos.ts";
import { issuesText } from "../util/valibot-issues.ts";

export type DocRead<T> =
  | { kind: "found"; doc: T }
  | { kind: "not-found" }
  /** The document exists but does not follow its schema; `problem` says where. */
  | { kind: "malformed"; problem: string };

/** The raw document (partition key = id), or undefined when there is none. Other errors are thrown. */
export async function readRawDoc(container: Container, id: string, signal?: AbortSignal): Promise<unknown> {
  try {
    const response = await container.item(id, id).read({ abortSignal: signal });
    if (response.statusCode === 404) return undefined;
    return response.resource;
  } catch (err) {
    if (cosmosStatus(err) === 404) return undefined;
    throw err;
  }
}

/** Reads and validates the document `id`. */
export async function readDoc<S extends v.GenericSchema>(
  container: Container,
  id: string,
  schema: S,
  signal?: AbortSignal,
): Promise<DocRead<v.InferOutput<S>>> {
  const raw = await readRawDoc(container, id, signal);
  if (raw === undefined) return { kind: "not-found" };
  const parsed = v.safeParse(schema, raw);
  return parsed.success
    ? { kind: "found", doc: parsed.output }
    : { kind: "malformed", problem: issuesText(parsed.issues) };
}
