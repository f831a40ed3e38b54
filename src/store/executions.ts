// Execution records as the processing worker updates them: read-modify-replace with If-Match (no lost updates),
// pending → running → completed | failed, and never away from completed.
import type { Container } from "@azure/cosmos";
import * as v from "valibot";
import { cosmosStatus } from "./cosmos.ts";
import { type ExecutionDoc, ExecutionDocSchema } from "./documents.ts";
import type { ContentProcessingTask } from "../queue/envelope.ts";

const MAX_ATTEMPTS = 8;
/** Cosmos items are limited to 2 MB; stay well below it. */
const MAX_DOC_BYTES = 1_800_000;

export class ExecutionStore {
  constructor(private readonly container: Container) {}

  async read(id: string): Promise<ExecutionDoc | undefined> {
    const { resource, statusCode } = await this.container.item(id, id).read();
    if (statusCode === 404 || !resource) return undefined;
    const parsed = v.safeParse(ExecutionDocSchema, resource);
    if (!parsed.success) throw new Error(`execution ${id} is malformed: ${parsed.issues[0].message}`);
    return parsed.output;
  }

  /**
   * Applies `change` to the current document and replaces it with If-Match; on 412 re-reads and re-applies.
   * `change` returns undefined to leave the document as it is. A missing document is created from the task.
   */
  async update(task: ContentProcessingTask, change: (doc: ExecutionDoc) => ExecutionDoc | undefined): Promise<ExecutionDoc | undefined> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.read(task.execution_id);
      if (!current) {
        const created = change(this.fromTask(task));
        if (!created) return undefined;
        try {
          const { resource } = await this.container.items.create(this.fit(created));
          return resource as ExecutionDoc;
        } catch (err) {
          if (cosmosStatus(err) === 409) continue;
          throw err;
        }
      }
      const next = change(structuredClone(current));
      if (!next) return current;
      next.updated_at = new Date().toISOString();
      try {
        const { resource } = await this.container.item(current.id, current.id).replace(this.fit(next), {
          accessCondition: { type: "IfMatch", condition: current._etag! },
        });
        return resource as ExecutionDoc;
      } catch (err) {
        const status = cosmosStatus(err);
        if (status === 412) continue;
        if (status === 413) {
          next.content = (next.content ?? []).map((c) => ({ id: (c as { id?: unknown }).id }));
          next.status_message = `${next.status_message ?? ""} (output too large for Cosmos DB: only content ids stored)`.trim();
          continue;
        }
        throw err;
      }
    }
    throw new Error(`execution ${task.execution_id}: gave up after ${MAX_ATTEMPTS} concurrent-update conflicts`);
  }

  private fromTask(task: ContentProcessingTask): ExecutionDoc {
    const now = new Date().toISOString();
    return {
      id: task.execution_id,
      pipeline_id: task.pipeline_id,
      pipeline_name: task.pipeline_name,
      vault_id: task.vault_id ?? null,
      status: "pending",
      status_message: "Task received by a processing worker",
      task_id: task.task_id,
      content: task.content.map((c) => ({ id: c.id })),
      number_of_items: task.content.length,
      created_at: now,
      created_by: "processing-worker",
      updated_at: now,
      started_at: null,
      completed_at: null,
      error: null,
      executor_outputs: {},
      events: [],
    };
  }

  /** Keeps the status when the output would not fit: content ids only, then events dropped. */
  private fit(doc: ExecutionDoc): ExecutionDoc {
    const { _etag: _e, ...rest } = doc as ExecutionDoc & Record<string, unknown>;
    const out = rest as ExecutionDoc;
    if (JSON.stringify(out).length <= MAX_DOC_BYTES) return out;
    out.content = (out.content ?? []).map((c) => ({ id: (c as { id?: unknown }).id }));
    out.status_message = `${out.status_message ?? ""} (output too large for Cosmos DB: only content ids stored)`.trim();
    if (JSON.stringify(out).length > MAX_DOC_BYTES) out.events = [];
    return out;
  }
}
