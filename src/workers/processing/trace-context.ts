// The trace a task message continues: the W3C traceparent its sender put in the envelope (or claim-check
// pointer), read only when telemetry is on.
import { decodeMessage } from "../../queue/decode.ts";
import { parseTraceparent } from "../../telemetry/traceparent.ts";

/** The valid traceparent a task message carries, if any. */
export function messageTraceparent(text: string): string | undefined {
  const decoded = decodeMessage(text);
  const value = decoded.kind === "invalid" ? undefined : decoded.message.traceparent;
  return parseTraceparent(value) ? value : undefined;
}
