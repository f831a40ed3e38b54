// Claim-check pointers come from queue messages (untrusted): only a blob name the worker itself writes,
// `tasks/<task_id>.json` in CLAIM_CHECK_CONTAINER_NAME, is followed. A table of hostile names, each refused by the
// one rule (claim-check.ts), by decodeMessage (so the worker poisons it) and by claimCheckAccess, which never even
// asks the blob service for a client.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { BlobServiceClient } from "@azure/storage-blob";
import {
  claimCheckAccess,
  claimCheckBlobName,
  claimCheckNameProblem,
  claimCheckPointerProblem,
  spilledOriginalProblem,
} from "../../src/queue/claim-check.ts";
import { decodeMessage } from "../../src/queue/decode.ts";
import type { ClaimCheckMessage } from "../../src/model/task-envelope.ts";

const CONTAINER = "contentflow-claim-checks";
const TASK = "task_0123456789ab";

function pointer(blob: string, taskId = TASK, container = CONTAINER): ClaimCheckMessage {
  return {
    task_type: "content_processing",
    claim_check: { container, blob, task_id: taskId, execution_id: "exec_0123456789ab" },
  };
}

const HOSTILE: Array<[string, string] | [string, string, string]> = [
  ["parent of the container", "../documents/contract.pdf"],
  ["climbs out after a prefix", `tasks/../../documents/contract.pdf`],
  ["x/../../…", "x/../../documents/contract.pdf"],
  ["encoded dots", "%2e%2e/documents/contract.pdf"],
  ["encoded slash", `tasks%2f${TASK}.json`],
  ["encoded dots after the prefix", `tasks/%2E%2E/%2E%2E/documents/contract.pdf`],
  ["backslashes", "..\\documents\\contract.pdf"],
  ["backslash inside the prefix", `tasks\\${TASK}.json`],
  ["leading slash", `/tasks/${TASK}.json`],
  ["double slash", `tasks//${TASK}.json`],
  ["other prefix", `other/${TASK}.json`],
  ["no prefix", `${TASK}.json`],
  ["another task's blob", "tasks/task_ffffffffffff.json"],
  ["dot segment in the name", `tasks/./${TASK}.json`],
  ["query string", `tasks/${TASK}.json?comp=list`],
  ["fragment", `tasks/${TASK}.json#x`],
  ["trailing newline", `tasks/${TASK}.json\n`],
  ["empty", ""],
  // The task id is part of the name: one that climbs is refused even when the name matches it.
  ["task id with dots", "tasks/../documents/contract.json", "../documents/contract"],
  ["task id with a slash", "tasks/a/b.json", "a/b"],
  ["task id with a percent", "tasks/%2e%2e.json", "%2e%2e"],
  ["empty task id", "tasks/.json", ""],
];

describe("claim-check blob names", () => {
  test("the worker's own name passes; what the sender writes is what the check accepts", () => {
    assert.equal(claimCheckBlobName(TASK), `tasks/${TASK}.json`);
    assert.equal(claimCheckNameProblem(pointer(claimCheckBlobName(TASK)).claim_check), undefined);
    assert.equal(claimCheckPointerProblem(pointer(`tasks/${TASK}.json`), CONTAINER), undefined);
    const decoded = decodeMessage(JSON.stringify(pointer(`tasks/${TASK}.json`)));
    assert.equal(decoded.kind, "claim-check");
  });

  for (const [what, blob, taskId] of HOSTILE) {
    test(`refused: ${what} (${JSON.stringify(blob)})`, async () => {
      const p = pointer(blob, taskId);
      assert.match(claimCheckNameProblem(p.claim_check) ?? "", /is not tasks\/<task_id>\.json .*refused/);
      const decoded = decodeMessage(JSON.stringify(p));
      assert.equal(decoded.kind, "invalid");
      assert.match(decoded.kind === "invalid" ? decoded.reason : "", /^invalid claim-check message: claim-check blob/);
      assert.equal(decoded.kind === "invalid" && decoded.executionId, "exec_0123456789ab", "the execution is named");
      // The access the worker and the CLI use never reaches the blob service.
      let asked = 0;
      const blobs = () => {
        asked++;
        return {} as BlobServiceClient;
      };
      const access = claimCheckAccess(blobs, { container: CONTAINER, maxBytes: 1000 });
      const read = await access.read(p, new AbortController().signal);
      assert.equal(read.found, false);
      assert.match(read.found ? "" : read.problem ?? "", /refused/);
      await access.delete(p, new AbortController().signal);
      assert.equal(asked, 0, "no blob client was made for a refused pointer");
    });
  }

  test("a task id that cannot name a blob is refused by the writer too", () => {
    for (const id of ["../x", "a/b", "a\\b", "%2e", "", "x".repeat(129), "a.b"]) {
      assert.throws(() => claimCheckBlobName(id), /cannot name a claim-check blob/, id);
    }
  });

  test("another container is refused, whatever the name", () => {
    assert.match(
      claimCheckPointerProblem(pointer(`tasks/${TASK}.json`, TASK, "documents"), CONTAINER) ?? "",
      /container 'documents' is not CLAIM_CHECK_CONTAINER_NAME/,
    );
  });

  test("spilled poison originals: only poison/<queue>/<message id>.txt in the claim-check container", () => {
    const ok = { container: CONTAINER, blob: "poison/tasks-q/0b6a9f3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b.txt" };
    assert.equal(spilledOriginalProblem(ok, CONTAINER), undefined);
    for (
      const bad of [
        { ...ok, container: "documents" },
        { ...ok, blob: "poison/tasks-q/../../documents/contract.pdf" },
        { ...ok, blob: "../documents/contract.pdf" },
        { ...ok, blob: "poison/tasks-q/%2e%2e.txt" },
        { ...ok, blob: "poison\\tasks-q\\x.txt" },
        { ...ok, blob: "/poison/tasks-q/x.txt" },
      ]
    ) {
      assert.match(spilledOriginalProblem(bad, CONTAINER) ?? "", /refused/, JSON.stringify(bad));
    }
  });
});
