// The claims a `poison requeue` holds on the records it has read, against Azurite: kept past their length while the
// records wait, renewed on take when short, and the records' text unchanged by the renewals.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { QueueClient } from "@azure/storage-queue";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { PoisonQueue } from "../../src/queue/poison-queue.ts";
import { PoisonClaimKeeper } from "../../src/queue/poison-claims.ts";
import { sleep, uniqueName } from "../helpers/wait.ts";

const CLAIM_SECONDS = 4;

let emu: Emulators;

before(async () => {
  emu = await startEmulators({ blob: false, cosmos: false });
});

after(async () => {
  await emu?.stop();
});

async function queueWith(texts: string[]): Promise<QueueClient> {
  const queue = new QueueClient(emu.queueConnectionString, uniqueName("poison-claims"));
  await queue.create();
  for (const t of texts) await queue.sendMessage(t);
  return queue;
}

/** What another reader (a second command, a processing worker) can receive now; made visible again at once. */
async function visibleToOthers(queue: QueueClient): Promise<string[]> {
  const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 1 });
  for (const m of receivedMessageItems) await queue.updateMessage(m.messageId, m.popReceipt, undefined, 0);
  return receivedMessageItems.map((m) => m.messageText);
}

describe("poison record claims", () => {
  test("records waiting stay claimed past the claim length; released, their text is unchanged", async () => {
    const texts = Array.from({ length: 5 }, (_, i) => `record ${i}`);
    const queue = await queueWith(texts);
    const poison = new PoisonQueue(queue);
    const keeper = new PoisonClaimKeeper(poison, { claimSeconds: CLAIM_SECONDS });
    try {
      const entries = await poison.scan({ claimSeconds: CLAIM_SECONDS, onPage: keeper.keep });
      assert.equal(entries.length, 5);
      await sleep(CLAIM_SECONDS * 1000 * 2);
      assert.deepEqual(await visibleToOthers(queue), [], "no claim ran out while the records waited");
      assert.ok(keeper.renewed >= 5, `every claim was renewed (${keeper.renewed})`);
      assert.equal(keeper.failed, 0);
      for (const e of entries) await keeper.take(e);
      assert.equal(await poison.release(entries), 0);
    } finally {
      await keeper.stop();
    }
    assert.deepEqual((await visibleToOthers(queue)).sort(), texts);
  });

  test("a record taken with less than half its claim left gets a fresh claim before it is handled", async () => {
    const queue = await queueWith(["only record"]);
    const poison = new PoisonQueue(queue);
    const keeper = new PoisonClaimKeeper(poison, { claimSeconds: CLAIM_SECONDS });
    try {
      // Read without handing the records to the keeper: nothing renews them in the background.
      const [entry] = await poison.scan({ claimSeconds: CLAIM_SECONDS });
      await sleep(CLAIM_SECONDS * 1000 * 0.6);
      await keeper.take(entry);
      assert.equal(keeper.renewed, 1);
      await sleep(CLAIM_SECONDS * 1000 * 0.6);
      assert.deepEqual(await visibleToOthers(queue), [], "still claimed after the first claim's end");
      await poison.delete(entry);
    } finally {
      await keeper.stop();
    }
    await sleep(CLAIM_SECONDS * 1000);
    assert.deepEqual(await visibleToOthers(queue), [], "deleted with the renewed pop receipt");
  });
});
