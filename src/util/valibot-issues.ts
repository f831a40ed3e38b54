// valibot validation issues as one line for error messages.
import type * as v from "valibot";

/**
 * "path: message; path: message" (no path for issues at the top level); a missing required key reads
 * "path: is required".
 */
export function issuesText(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues.map((i) => {
    const path = i.path?.map((p) => String(p.key)).join(".");
    const missing = i.kind === "schema" && i.received === "undefined" && i.message.startsWith("Invalid key:");
    const message = missing ? "is required" : i.message;
    return path ? `${path}: ${message}` : message;
  }).join("; ");
}
