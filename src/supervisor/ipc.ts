// The pipe protocol between the supervisor and its children, one JSON object per line.
// supervisor → child (child's stdin):  {"cmd":"config","config":{…},"sources":{…}}  first, then {"cmd":"drain"}, and
//   {"cmd":"wake"} to processing children when a source worker of the same supervisor has enqueued tasks
// child → supervisor (child's stdout): {"ipc":"state", …WorkerState}; every other line is a log line.
// Closing the child's stdin (the supervisor died) means: drain and exit.
import * as v from "valibot";

export const WorkerStateSchema = v.object({
  ipc: v.literal("state"),
  ready: v.boolean(),
  reason: v.optional(v.string()),
  in_flight: v.number(),
  worker_id: v.string(),
  counters: v.record(v.string(), v.number()),
  gauges: v.record(v.string(), v.number()),
  info: v.record(v.string(), v.unknown()),
});
export type WorkerState = v.InferOutput<typeof WorkerStateSchema>;

export const SupervisorCommandSchema = v.variant("cmd", [
  v.object({
    cmd: v.literal("config"),
    config: v.record(v.string(), v.unknown()),
    sources: v.record(v.string(), v.string()),
  }),
  v.object({ cmd: v.literal("drain") }),
  v.object({ cmd: v.literal("wake") }),
]);
export type SupervisorCommand = v.InferOutput<typeof SupervisorCommandSchema>;

/** A child's stdout line: a state report, a JSON log line to forward, or plain text to wrap. */
export type ChildLine =
  | { kind: "state"; state: WorkerState }
  | { kind: "log"; line: string }
  | { kind: "text"; text: string };

/** How our logger's lines begin (src/log/logger.ts writes `time` first): forwarded without parsing them. */
const LOG_LINE_START = '{"time":"';

export function classifyChildLine(line: string): ChildLine {
  // The common case, a log line of our own logger: no JSON.parse per line (one per task while busy).
  if (line.startsWith(LOG_LINE_START) && line.endsWith("}")) return { kind: "log", line };
  const trimmed = line.trim();
  if (trimmed.startsWith("{")) {
    try {
      const parsed = JSON.parse(trimmed) as Record<string, unknown>;
      if (parsed && parsed.ipc !== undefined) {
        const result = v.safeParse(WorkerStateSchema, parsed);
        if (result.success) return { kind: "state", state: result.output };
        return { kind: "text", text: `malformed state report: ${trimmed.slice(0, 200)}` };
      }
      return { kind: "log", line: trimmed };
    } catch {
      // not JSON after all
    }
  }
  return { kind: "text", text: line };
}
