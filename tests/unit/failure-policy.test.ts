// The processing worker's decisions, as tables: what happens to a delivery before its task runs, and what a failed
// attempt leads to. The retry budget counts failed runs of the task, never deliveries spent on infrastructure.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  decideDelivery,
  decideFailure,
  decideStart,
  type DeliveryAction,
  type FailedAttempt,
  type FailureAction,
  MAX_INTERRUPTIONS,
  runsAlone,
  type StartRecord,
} from "../../src/workers/processing/failure-policy.ts";
import type { StartVerdict } from "../../src/store/executions.ts";

const attempt = (change: Partial<FailedAttempt>): FailedAttempt => ({
  error: "boom",
  holdLost: false,
  stopping: false,
  permanent: false,
  taskFailure: false,
  storeUnavailable: false,
  begun: true,
  retryDelaySeconds: 7,
  ...change,
});

describe("failure policy", () => {
  const table: Array<[string, Partial<FailedAttempt>, FailureAction]> = [
    ["hold lost → abandon, the record set back to pending", { holdLost: true }, {
      kind: "abandon",
      releaseRecord: true,
    }],
    ["hold lost wins over permanent and a task failure", { holdLost: true, permanent: true, taskFailure: true }, {
      kind: "abandon",
      releaseRecord: true,
    }],
    ["hold lost wins over stopping", { holdLost: true, stopping: true }, { kind: "abandon", releaseRecord: true }],
    ["hold lost before the run began → nothing to release", { holdLost: true, begun: false }, {
      kind: "abandon",
      releaseRecord: false,
    }],
    ["hold lost while Cosmos is down → the record cannot be released", { holdLost: true, storeUnavailable: true }, {
      kind: "abandon",
      releaseRecord: false,
    }],
    ["stopping → interrupted, record noted", { stopping: true }, { kind: "interrupted", recordInterruption: true }],
    ["stopping before the run began → interrupted, no record", { stopping: true, begun: false }, {
      kind: "interrupted",
      recordInterruption: false,
    }],
    ["stopping wins over a task failure", { stopping: true, taskFailure: true }, {
      kind: "interrupted",
      recordInterruption: true,
    }],
    ["permanent while stopping → fail with the error as reason", { stopping: true, permanent: true }, {
      kind: "fail",
      reason: "boom",
    }],
    ["permanent → fail", { permanent: true }, { kind: "fail", reason: "boom" }],
    ["the task's run failed → count it (the record decides whether it was the last)", { taskFailure: true }, {
      kind: "count-failure",
      delaySeconds: 7,
    }],
    ["Cosmos down → retry, not counted, record not written", { storeUnavailable: true }, {
      kind: "retry",
      delaySeconds: 7,
      releaseRecord: false,
    }],
    ["Cosmos down before the run began → retry, not counted", { storeUnavailable: true, begun: false }, {
      kind: "retry",
      delaySeconds: 7,
      releaseRecord: false,
    }],
    ["another infrastructure error after the run began → retry, record back to pending", {}, {
      kind: "retry",
      delaySeconds: 7,
      releaseRecord: true,
    }],
    ["claim-check blob unreadable (nothing begun) → retry without a record", { begun: false }, {
      kind: "retry",
      delaySeconds: 7,
      releaseRecord: false,
    }],
  ];
  for (const [name, change, expected] of table) {
    test(name, () => assert.deepEqual(decideFailure(attempt(change)), expected));
  }
});

describe("delivery check", () => {
  const table: Array<[string, Parameters<typeof decideDelivery>[0], DeliveryAction]> = [
    ["no record yet → run", { delivery: 1, maxFailures: 3 }, { kind: "run" }],
    ["re-drive replaced by a later one → acknowledge", {
      recordStatus: "pending",
      delivery: 1,
      maxFailures: 3,
      supersededByRedrive: true,
    }, { kind: "acknowledge-superseded" }],
    ["completed wins over a replaced re-drive", {
      recordStatus: "completed",
      delivery: 1,
      maxFailures: 3,
      supersededByRedrive: true,
    }, { kind: "acknowledge-duplicate" }],
    ["running record → run (the record counts a dead run when it begins)", {
      recordStatus: "running",
      delivery: 2,
      maxFailures: 3,
    }, { kind: "run" }],
    ["many deliveries but few failed runs (outages, rolling restarts) → run", {
      recordStatus: "pending",
      recordFailures: 1,
      delivery: 9,
      maxFailures: 3,
    }, { kind: "run" }],
    ["completed → acknowledge without running", { recordStatus: "completed", delivery: 1, maxFailures: 3 }, {
      kind: "acknowledge-duplicate",
    }],
    ["completed wins over any delivery count", { recordStatus: "completed", delivery: 99, maxFailures: 3 }, {
      kind: "acknowledge-duplicate",
    }],
    ["failed for good, poison move lost → poison again without running or rewriting the record", {
      recordStatus: "failed",
      recordFailures: 3,
      delivery: 4,
      maxFailures: 3,
    }, {
      kind: "fail",
      reason: "failed 3 time(s) already (MAX_TASK_RETRIES=3); not run again",
      markRecord: false,
    }],
    ["failed but budget left (e.g. a send that reached the queue after all) → run", {
      recordStatus: "failed",
      recordFailures: 0,
      delivery: 1,
      maxFailures: 3,
    }, { kind: "run" }],
    ["past the safety limit of ten budgets → fail", { recordStatus: "pending", delivery: 31, maxFailures: 3 }, {
      kind: "fail",
      reason: "delivered 31 times without finishing (safety limit 30: 10 × MAX_TASK_RETRIES)",
      markRecord: true,
    }],
    ["at the safety limit → still run", { recordStatus: "pending", delivery: 30, maxFailures: 3 }, { kind: "run" }],
  ];
  for (const [name, check, expected] of table) {
    test(name, () => assert.deepEqual(decideDelivery(check), expected));
  }
});

describe("start policy: a run whose worker stopped under it is an interruption, not a failure", () => {
  const MAX = 2;
  const table: Array<[string, StartRecord, number, StartVerdict]> = [
    ["a pending record starts with its counts", { status: "pending", task_failures: 1, interruptions: 0 }, 3, {
      kind: "start",
      failures: 1,
      interruptions: 0,
    }],
    [
      "running for an earlier delivery (its worker was killed or crashed) → one interruption, no failure",
      { status: "running", attempt: 1, task_failures: 1 },
      2,
      { kind: "start", failures: 1, interruptions: 1 },
    ],
    [
      "killed with others in flight again and again below the limit: the budget is untouched",
      { status: "running", attempt: 4, task_failures: 1, interruptions: MAX_INTERRUPTIONS - 2 },
      5,
      { kind: "start", failures: 1, interruptions: MAX_INTERRUPTIONS - 1 },
    ],
    [
      "running for this same delivery (a write whose answer was lost) is not an interruption",
      { status: "running", attempt: 3, interruptions: 1 },
      3,
      { kind: "start", failures: 0, interruptions: 1 },
    ],
    [
      `the ${MAX_INTERRUPTIONS}th run in a row that never ended → set aside with that reason`,
      { status: "running", attempt: 6, task_failures: 0, interruptions: MAX_INTERRUPTIONS - 1 },
      7,
      {
        kind: "exhausted",
        reason: `its worker stopped under it ${MAX_INTERRUPTIONS} times in a row (killed as hung, crashed or lost; ` +
          "from the second on it ran alone in its worker), so it is likely the cause; set aside",
        failures: 0,
        interruptions: MAX_INTERRUPTIONS,
        write: true,
      },
    ],
    [
      "failed runs at the budget → set aside",
      { status: "pending", task_failures: MAX, interruptions: 0 },
      4,
      {
        kind: "exhausted",
        reason: "failed 2 time(s) (MAX_TASK_RETRIES=2)",
        failures: 2,
        interruptions: 0,
        write: true,
      },
    ],
    [
      "already failed for good (the poison move did not happen): its reason, no second write",
      { status: "failed", task_failures: MAX, error: "failed 2 time(s) (MAX_TASK_RETRIES=2): boom" },
      5,
      {
        kind: "exhausted",
        reason: "failed 2 time(s) (MAX_TASK_RETRIES=2): boom",
        failures: 2,
        interruptions: 0,
        write: false,
      },
    ],
    [
      "already set aside for interruptions: its reason, no second write",
      { status: "failed", task_failures: 0, interruptions: MAX_INTERRUPTIONS, error: "stopped under it" },
      9,
      { kind: "exhausted", reason: "stopped under it", failures: 0, interruptions: MAX_INTERRUPTIONS, write: false },
    ],
  ];
  for (const [name, record, attempt, expected] of table) {
    test(name, () => assert.deepEqual(decideStart(record, attempt, MAX), expected));
  }

  test("a task runs alone when its last run never ended or its record counts interruptions", () => {
    assert.equal(runsAlone(undefined, 1), false);
    assert.equal(runsAlone({ status: "pending" }, 2), false);
    assert.equal(runsAlone({ status: "running", attempt: 2 }, 2), false);
    assert.equal(runsAlone({ status: "running", attempt: 1 }, 2), true);
    assert.equal(runsAlone({ status: "pending", interruptions: 1 }, 3), true);
  });

  test("a delivery of a record set aside for interruptions is poisoned without a second write", () => {
    assert.deepEqual(
      decideDelivery({ recordStatus: "failed", recordInterruptions: MAX_INTERRUPTIONS, delivery: 8, maxFailures: 3 }),
      {
        kind: "fail",
        reason: `its worker stopped under it ${MAX_INTERRUPTIONS} times in a row; not run again`,
        markRecord: false,
      },
    );
  });
});
