// The one error type for a pipeline document that cannot be parsed, validated or compiled. Its message is meant for
// the person who wrote the YAML: it names the executor, the setting or the edge at fault.
import type * as v from "valibot";

export class PipelineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PipelineError";
  }
}

/** valibot issues as "path: message; path: message" (a missing required key reads "path: is required"). */
export function issuesText(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues.map((i) => {
    const path = i.path?.map((p) => String(p.key)).join(".");
    const missing = i.kind === "schema" && i.type === "object" && i.input === undefined &&
      i.message.startsWith("Invalid key");
    const message = missing ? "is required" : i.message;
    return path ? `${path}: ${message}` : message;
  }).join("; ");
}
