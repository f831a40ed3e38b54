// The span of one executor run inside its task's span: which executor, items in and out, what failed, AI tokens
// (as contentflow_worker_ai_tokens_total counts them: prompt, completion, embedding) and pages where an extractor
// says how many it read. Made only inside a span (telemetry on); otherwise the executor just runs.
import { childSpan, inSpan } from "./index.ts";
import type { SpanAttributes } from "./types.ts";

/** What the pipeline runner knows about an executor run once it ended. */
export interface ExecutorFacts {
  status: "completed" | "failed";
  items_in: number;
  items_out: number;
  items_failed?: number;
  items_skipped?: number;
  /** Counts summed over its items (ctx.addUsage): prompt_tokens, completion_tokens, embedding_tokens, calls. */
  usage?: Record<string, number>;
  /** Pages the executor read, when it said (Document Intelligence, Content Understanding, PDF). */
  pages?: number;
  error?: string;
}

export function executorSpanAttributes(facts: ExecutorFacts): SpanAttributes {
  const u = facts.usage ?? {};
  return {
    "contentflow.items_in": facts.items_in,
    "contentflow.items_out": facts.items_out,
    "contentflow.items_failed": facts.items_failed || undefined,
    "contentflow.items_skipped": facts.items_skipped || undefined,
    "contentflow.tokens.prompt": u.prompt_tokens,
    "contentflow.tokens.completion": u.completion_tokens,
    "contentflow.tokens.embedding": u.embedding_tokens,
    "contentflow.ai_calls": u.calls,
    "contentflow.pages": facts.pages || undefined,
    // An executor that failed on some items and passed them on: the first of those errors.
    "contentflow.error": facts.status === "completed" ? facts.error : undefined,
  };
}

/**
 * Runs executor `id` of type `type` (`run`) in a contentflow.executor span under the active span; `facts` reads
 * what the run recorded, once it ended. Without an active span, `run` alone.
 */
export function tracedExecutor<T>(
  id: string,
  type: string,
  run: () => Promise<T>,
  facts: (result: T) => ExecutorFacts | undefined,
): Promise<T> {
  if (!inSpan()) return run();
  return childSpan(
    "contentflow.executor",
    { "contentflow.executor.id": id, "contentflow.executor.type": type },
    async (span) => {
      const result = await run();
      const f = facts(result);
      if (f) {
        span.setAttributes(executorSpanAttributes(f));
        if (f.status === "failed") span.fail(f.error ?? "executor failed");
      }
      return result;
    },
  );
}
