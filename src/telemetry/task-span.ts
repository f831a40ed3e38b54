// Attributes of the span around one task message, from what the queue says about it.

import type { SpanAttributes } from "./types.ts";

export interface QueuedMessage {
  id: string;
  dequeueCount: number;
  insertedOn?: Date;
}

/** Message id, attempt (the queue's dequeue count) and queue wait: enqueue → receive, in milliseconds. */
export function taskSpanAttributes(message: QueuedMessage, receivedAt: number): SpanAttributes {
  const inserted = message.insertedOn?.getTime();
  return {
    "messaging.system": "azure_storage_queue",
    "messaging.message.id": message.id,
    "contentflow.attempt": message.dequeueCount,
    "contentflow.queue_wait_ms": inserted !== undefined && Number.isFinite(inserted)
      ? Math.max(0, receivedAt - inserted)
      : undefined,
  };
}
