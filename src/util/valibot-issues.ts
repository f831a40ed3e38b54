// valibot validation issues as one line for error messages.
import type * as v from "valibot";

/** "path: message; path: message" (no path for issues at the top level). */
export function issuesText(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues.map((i) => {
    const path = i.path?.map((p) => String(p.key)).join(".");
    return path ? `${path}: ${i.message}` : i.message;
  }).join("; ");
}
