// document_set_collector: consolidates the items of each document set (summary_data.document_set_id, stamped by
// document_set_initializer) into ONE item per set whose data[output_key] lists the members in document_set_order.
// Items without a set id are gathered into one "ungrouped_…" set rather than dropped.
import * as v from "valibot";
import { createHash } from "node:crypto";
import type { ExecutorDefinition } from "../types.ts";
import { type Content, nowIso } from "../../model/content.ts";
import { boolSetting, stringListSetting, stringSetting } from "../settings.ts";
import { type DocumentSet, logEntry, type SetDocument, valueAtPath } from "../document-set.ts";

const settings = v.object({
  require_complete_set: v.optional(boolSetting("require_complete_set"), true),
  fields_to_collect: v.optional(stringListSetting("fields_to_collect")),
  summary_fields_to_collect: v.optional(stringListSetting("summary_fields_to_collect")),
  output_key: v.optional(v.pipe(stringSetting("output_key"), v.trim(), v.minLength(1)), "document_set"),
  include_raw_content_list: v.optional(boolSetting("include_raw_content_list"), false),
});
type Settings = v.InferOutput<typeof settings>;

const UNGROUPED_PREFIX = "ungrouped_";

function sha1(text: string): string {
  return createHash("sha1").update(text, "utf8").digest("hex");
}

function setIdOf(c: Content): string | undefined {
  const id = c.summary_data?.document_set_id;
  return id === undefined || id === null || id === "" ? undefined : String(id);
}

function orderOf(c: Content): number {
  const order = c.summary_data?.document_set_order;
  return typeof order === "number" ? order : 0;
}

function entry(c: Content, s: Settings): SetDocument {
  const data = c.data ?? {};
  const summary = c.summary_data ?? {};
  let collected: Record<string, unknown>;
  if (s.fields_to_collect?.length) {
    collected = {};
    for (const field of s.fields_to_collect) {
      const value = Object.hasOwn(data, field) ? data[field] : valueAtPath(data, field);
      if (value !== undefined && (Object.hasOwn(data, field) || value !== null)) collected[field] = value;
    }
  } else collected = { ...data };
  const collectedSummary = s.summary_fields_to_collect?.length
    ? Object.fromEntries(
      s.summary_fields_to_collect.filter((f) => Object.hasOwn(summary, f)).map((f) => [f, summary[f]]),
    )
    : Object.fromEntries(Object.entries(summary).filter(([k]) => !k.startsWith("document_set_")));
  return {
    role: typeof summary.document_set_role === "string" ? summary.document_set_role : "",
    order: orderOf(c),
    canonical_id: c.id.canonical_id,
    unique_id: c.id.unique_id,
    filename: c.id.filename ?? null,
    path: c.id.path ?? null,
    data: collected,
    summary_data: collectedSummary,
  };
}

function consolidate(id: string, setId: string, members: Content[], s: Settings, start: string): Content {
  const first = members[0].summary_data ?? {};
  let setName = typeof first.document_set_name === "string" ? first.document_set_name : "";
  if (setId.startsWith(UNGROUPED_PREFIX)) setName ||= "auto_collected_set";
  const declared = first.document_set_total;
  const expected = typeof declared === "number" ? declared : members.length;
  if (s.require_complete_set && members.length !== expected) {
    throw new Error(
      `executor '${id}': incomplete document set '${setName}' (${setId}): expected ${expected} documents but ` +
        `received ${members.length} (require_complete_set is true)`,
    );
  }
  const inOrder = members.map((c, i) => ({ c, i })).sort((a, b) => orderOf(a.c) - orderOf(b.c) || a.i - b.i)
    .map((x) => x.c);
  const documents = inOrder.map((c) => entry(c, s));
  const collectedAt = nowIso();
  const set: DocumentSet = {
    set_id: setId,
    set_name: setName,
    total_documents: documents.length,
    collected_at: collectedAt,
    documents,
  };
  const data: Record<string, unknown> = { [s.output_key]: set };
  if (s.include_raw_content_list) data.raw_content_list = inOrder;
  return {
    id: {
      canonical_id: `document_set://${setId}`,
      unique_id: sha1(`set_${setId}_${collectedAt}`),
      source_name: "document_set_collector",
      source_type: "document_set",
      path: setId,
      filename: setName,
    },
    data,
    summary_data: {
      document_set_id: setId,
      document_set_name: setName,
      document_set_total: documents.length,
      collection_status: documents.length === expected ? "complete" : "partial",
    },
    executor_logs: [
      logEntry(id, start, { set_id: setId, documents_collected: documents.length, expected_total: expected }),
    ],
  };
}

export const documentSetCollector: ExecutorDefinition<typeof settings> = {
  type: "document_set_collector",
  category: "utility",
  description: "Consolidates the items of each document set into one item listing the set's documents",
  settings,
  create: (id, s) => ({
    id,
    type: "document_set_collector",
    async process(input) {
      const start = nowIso();
      if (input.length === 0) throw new Error(`executor '${id}': received no items, so there is no set to collect`);
      const ungrouped = input.filter((c) => setIdOf(c) === undefined);
      const ungroupedId = ungrouped.length
        ? UNGROUPED_PREFIX + sha1(ungrouped.map((c) => c.id.canonical_id).join("\n")).slice(0, 12)
        : "";
      const groups = new Map<string, Content[]>();
      for (const c of input) {
        let setId = setIdOf(c);
        let member = c;
        if (setId === undefined) {
          setId = ungroupedId;
          member = { ...c, summary_data: { ...c.summary_data, document_set_id: setId } };
        }
        const list = groups.get(setId) ?? [];
        list.push(member);
        groups.set(setId, list);
      }
      return [...groups].map(([setId, members]) => consolidate(id, setId, members, s, start));
    },
  }),
};
