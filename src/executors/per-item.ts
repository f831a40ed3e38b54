// Builds an executor instance from a per-item function (ContentFlow's ParallelExecutor.process_content_item).
// The runner calls processItem with concurrency, timeout and error handling; `process` is the plain sequential form
// for callers that hold a whole batch.
import type { Content } from "../model/content.ts";
import type { ExecutorInstance, ExecutorRunContext } from "./types.ts";

export function perItemExecutor(
  id: string,
  type: string,
  processItem: (item: Content, ctx: ExecutorRunContext) => Promise<Content | Content[]>,
  close?: () => Promise<void>,
): ExecutorInstance {
  return {
    id,
    type,
    processItem,
    async process(input, ctx) {
      const out: Content[] = [];
      for (const item of input) {
        ctx.signal.throwIfAborted();
        const r = await processItem(item, ctx);
        out.push(...(Array.isArray(r) ? r : [r]));
      }
      return out;
    },
    close,
  };
}
