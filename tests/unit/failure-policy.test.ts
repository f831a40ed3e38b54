// The processing worker's decisions, as tables: what happens to a delivery before its task runs, and what a failed
// attempt leads to.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  decideDelivery,
  decideFailure,
  type DeliveryAction,
  type FailedAttempt,
  type FailureAction,
} from "../../src/workers/processing/failure-policy.ts";

const attempt = (change: Partial<FailedAttempt>): FailedAttempt => ({
  error: "boom",
  leaseLost: false,
  stopping: false,
  permanent: false,
  storeUnavailable: false,
  taskKnown: true,
  delivery: 1,
  maxDeliveries: 3,
  retryDelaySeconds: 7,
  ...change,
});

describe("failure policy", () => {
  const table: Array<[string, Partial<FailedAttempt>, FailureAction]> = [
    ["lease lost → abandon", { leaseLost: true }, { kind: "abandon" }],
    ["lease lost wins over permanent and last delivery", { leaseLost: true, permanent: true, delivery: 3 }, {
      kind: "abandon",
    }],
    ["lease lost wins over stopping", { leaseLost: true, stopping: true }, { kind: "abandon" }],
    ["stopping → interrupted, record noted", { stopping: true }, { kind: "interrupted", recordInterruption: true }],
    ["stopping without a known task → interrupted, no record", { stopping: true, taskKnown: false }, {
      kind: "interrupted",
      recordInterruption: false,
    }],
    ["stopping on the last delivery → still interrupted", { stopping: true, delivery: 3 }, {
      kind: "interrupted",
      recordInterruption: true,
    }],
    ["permanent while stopping → fail with the error as reason", { stopping: true, permanent: true }, {
      kind: "fail",
      reason: "boom",
    }],
    ["permanent on the first delivery → fail", { permanent: true }, { kind: "fail", reason: "boom" }],
    ["last allowed delivery → fail naming the delivery", { delivery: 3 }, {
      kind: "fail",
      reason: "failed on delivery 3 of 3 (MAX_TASK_RETRIES): boom",
    }],
    ["past the last delivery → fail", { delivery: 5 }, {
      kind: "fail",
      reason: "failed on delivery 5 of 3 (MAX_TASK_RETRIES): boom",
    }],
    ["Cosmos down on the last delivery → fail", { delivery: 3, storeUnavailable: true }, {
      kind: "fail",
      reason: "failed on delivery 3 of 3 (MAX_TASK_RETRIES): boom",
    }],
    ["an earlier delivery → retry after the delay, attempt recorded", { delivery: 2 }, {
      kind: "retry",
      delaySeconds: 7,
      recordAttempt: true,
    }],
    ["Cosmos down → retry without writing the record", { storeUnavailable: true }, {
      kind: "retry",
      delaySeconds: 7,
      recordAttempt: false,
    }],
    ["task not known (claim-check unread) → retry without a record", { taskKnown: false }, {
      kind: "retry",
      delaySeconds: 7,
      recordAttempt: false,
    }],
    ["one delivery allowed → the first failure is final", { maxDeliveries: 1 }, {
      kind: "fail",
      reason: "failed on delivery 1 of 1 (MAX_TASK_RETRIES): boom",
    }],
  ];
  for (const [name, change, expected] of table) {
    test(name, () => assert.deepEqual(decideFailure(attempt(change)), expected));
  }
});

describe("delivery check", () => {
  const table: Array<[string, Parameters<typeof decideDelivery>[0], DeliveryAction]> = [
    ["no record yet → run", { delivery: 1, maxDeliveries: 3 }, { kind: "run" }],
    ["re-drive replaced by a later one → acknowledge", {
      recordStatus: "pending",
      delivery: 1,
      maxDeliveries: 3,
      supersededByRedrive: true,
    }, { kind: "acknowledge-superseded" }],
    ["completed wins over a replaced re-drive", {
      recordStatus: "completed",
      delivery: 1,
      maxDeliveries: 3,
      supersededByRedrive: true,
    }, { kind: "acknowledge-duplicate" }],
    ["running record → run", { recordStatus: "running", delivery: 2, maxDeliveries: 3 }, { kind: "run" }],
    ["failed earlier attempt (pending) → run", { recordStatus: "pending", delivery: 3, maxDeliveries: 3 }, {
      kind: "run",
    }],
    ["completed → acknowledge without running", { recordStatus: "completed", delivery: 1, maxDeliveries: 3 }, {
      kind: "acknowledge-duplicate",
    }],
    ["completed wins over too many deliveries", { recordStatus: "completed", delivery: 9, maxDeliveries: 3 }, {
      kind: "acknowledge-duplicate",
    }],
    ["one delivery more than allowed → fail", { recordStatus: "running", delivery: 4, maxDeliveries: 3 }, {
      kind: "fail",
      reason: "delivered 4 times, more than MAX_TASK_RETRIES=3",
    }],
  ];
  for (const [name, check, expected] of table) {
    test(name, () => assert.deepEqual(decideDelivery(check), expected));
  }
});
