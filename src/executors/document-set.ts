// Shared by the document-set executors: the consolidated set that document_set_collector writes into
// data[output_key] and cross_document_* executors read from data[set_data_key].
import type { Content, ExecutorLogEntry } from "../model/content.ts";
import { nowIso } from "../model/content.ts";
import { getPath } from "./paths.ts";
import { stringSetting } from "./settings.ts";
import * as v from "valibot";

export interface SetDocument {
  role: string;
  order: number;
  canonical_id: string;
  unique_id: string;
  filename: string | null;
  path: string | null;
  data: Record<string, unknown>;
  summary_data: Record<string, unknown>;
}

export interface DocumentSet {
  set_id: string;
  set_name: string;
  total_documents: number;
  collected_at?: string;
  documents: SetDocument[];
}

/**
 * The settings every cross_document_* executor has: where the set is read (data.document_set by default) and where
 * its result is written (`outputDefault` unless output_key is set).
 */
export function documentSetKeys(outputDefault: string) {
  return {
    set_data_key: v.optional(v.pipe(stringSetting("set_data_key"), v.trim(), v.minLength(1)), "document_set"),
    output_key: v.optional(v.pipe(stringSetting("output_key"), v.trim(), v.minLength(1)), outputDefault),
  };
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Value at a dotted path (numeric segments index lists); undefined when any step is missing. */
export function valueAtPath(data: unknown, path: string): unknown {
  return getPath(data, path.split("."));
}

/** The consolidated set of an item, or an error saying what is missing (names the executor and the item). */
export function documentSetOf(item: Content, key: string, executorId: string): DocumentSet {
  const set = item.data?.[key];
  const where = `executor '${executorId}', item ${item.id.canonical_id}`;
  if (set === undefined || set === null || set === "" || (isRecord(set) && Object.keys(set).length === 0)) {
    throw new Error(
      `${where}: no document set data at data.${key}; run document_set_collector before this executor`,
    );
  }
  if (!isRecord(set) || !Array.isArray(set.documents)) {
    throw new Error(`${where}: data.${key} is not a document set (an object with a 'documents' list)`);
  }
  return set as unknown as DocumentSet;
}

/** The set's documents by their `order` (stable for equal orders). */
export function documentsInOrder(set: DocumentSet): SetDocument[] {
  const order = (d: SetDocument) => (typeof d?.order === "number" ? d.order : 0);
  return [...set.documents].filter(isRecord).sort((a, b) => order(a) - order(b));
}

/** [role, value] per document in order; a document without a role is called doc_<order>. */
export function fieldAcrossDocuments(set: DocumentSet, path: string): Array<[string, unknown]> {
  return documentsInOrder(set).map((d) => [
    typeof d.role === "string" ? d.role : `doc_${d.order ?? 0}`,
    valueAtPath(d, path),
  ]);
}

export function logEntry(
  executorId: string,
  start: string,
  details: Record<string, unknown>,
): ExecutorLogEntry {
  return { executor_id: executorId, start_time: start, end_time: nowIso(), status: "completed", details, errors: [] };
}

/**
 * `item` with `result` at data[outputKey] and a completed log entry naming the set and how long the executor took
 * since `startedMs` (Date.now()) for it.
 */
export function withSetResult(
  item: Content,
  outputKey: string,
  result: Record<string, unknown>,
  log: { executorId: string; start: string; startedMs: number; set: DocumentSet },
): Content {
  return {
    ...item,
    data: { ...item.data, [outputKey]: result },
    executor_logs: [
      ...(item.executor_logs ?? []),
      logEntry(log.executorId, log.start, {
        set_id: log.set.set_id ?? "",
        set_name: log.set.set_name ?? "unknown",
        documents_analyzed: log.set.documents.length,
        duration_seconds: (Date.now() - log.startedMs) / 1000,
      }),
    ],
  };
}
