// Errors of AI executors name the executor, the item and the cause (with the HTTP status when there is one).
import type { Content } from "../../model/content.ts";
import { errorText } from "../../util/errors.ts";

export class AiExecutorError extends Error {
  override name = "AiExecutorError";
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

export function itemFailure(executorType: string, executorId: string, item: Content, err: unknown): AiExecutorError {
  const cause = errorText(err);
  const status = (err as { status?: number; statusCode?: number })?.status ??
    (err as { statusCode?: number })?.statusCode;
  return new AiExecutorError(`${executorType} '${executorId}', item ${item.id.canonical_id}: ${cause}`, status);
}
