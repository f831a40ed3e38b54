// How the processing worker tells failures apart: ones retrying cannot fix, and Cosmos DB outages.

/** The task cannot succeed by retrying (missing pipeline, invalid claim-check blob, …): poison it at once. */
export class PermanentTaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermanentTaskError";
  }
}

/** Cosmos DB could not be reached: retry the task later; receiving pauses until Cosmos answers again. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** The task's own run failed: its pipeline reported an error, or it timed out. Counts toward MAX_TASK_RETRIES. */
export class TaskRunError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TaskRunError";
  }
}

/** The message's hold is no longer safely ours: nothing may be committed on its behalf. */
export class HoldGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HoldGoneError";
  }
}
