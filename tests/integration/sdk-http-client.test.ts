// The Cosmos DB and queue clients the workers build (src/store/cosmos.ts, src/queue/clients.ts) on the real
// emulators, once over each transport of SDK_HTTP_CLIENT: the answers and the errors the worker relies on must be
// the same whichever carries the calls.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createCosmosClient, ensureCosmosContainers } from "../../src/store/cosmos.ts";
import { queueServiceClient } from "../../src/queue/clients.ts";
import { isHoldLost } from "../../src/queue/errors.ts";
import { cosmosStatus } from "../../src/store/cosmos.ts";
import { uniqueName } from "../helpers/processing-kit.ts";

describe("the SDK clients over fetch and over node:http (emulators)", () => {
  let emu: Emulators;
  before(async () => {
    emu = await startEmulators({ blob: false });
  });
  after(async () => {
    await emu?.stop();
  });

  for (const kind of ["fetch", "node"] as const) {
    const configFor = async () =>
      (await loadConfig({
        env: { ...emu.env, SDK_HTTP_CLIENT: kind, COSMOS_DB_NAME: uniqueName(`db-${kind}`) },
        dotenvPath: false,
      })).config;

    test(`${kind}: queue messages with non-ASCII text are sent, received, renewed and deleted; a stale receipt is refused`, async () => {
      const config = await configFor();
      const queue = queueServiceClient(config).getQueueClient(uniqueName(`q-${kind}`));
      await queue.create();
      const text = JSON.stringify({ note: "café ✓ — 東京", n: 1 });
      await queue.sendMessage(text);
      const [received] = (await queue.receiveMessages({ numberOfMessages: 1, visibilityTimeout: 30 }))
        .receivedMessageItems;
      assert.equal(received.messageText, text);
      const renewed = await queue.updateMessage(received.messageId, received.popReceipt, undefined, 30);
      await assert.rejects(queue.deleteMessage(received.messageId, received.popReceipt), (err) => isHoldLost(err));
      await queue.deleteMessage(received.messageId, renewed.popReceipt!);
      assert.equal((await queue.getProperties()).approximateMessagesCount, 0);
      await queue.delete();
    });

    test(`${kind}: Cosmos documents are created, read, replaced with If-Match (a stale etag gets 412) and queried`, async () => {
      const config = await configFor();
      const client = createCosmosClient(config);
      try {
        await ensureCosmosContainers(client, config);
        const container = client.database(config.COSMOS_DB_NAME).container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
        const id = uniqueName("exec");
        const { resource: created } = await container.items.create({ id, status: "pending", note: "café ✓" });
        const { resource: read } = await container.item(id, id).read();
        assert.equal(read.note, "café ✓");
        const { resource: running } = await container.item(id, id).replace(
          { ...read, status: "running" },
          { accessCondition: { type: "IfMatch", condition: created!._etag } },
        );
        assert.equal(running!.status, "running");
        await assert.rejects(
          container.item(id, id).replace({ ...read, status: "completed" }, {
            accessCondition: { type: "IfMatch", condition: created!._etag },
          }),
          (err) => cosmosStatus(err) === 412,
        );
        const missing = await container.item("nope", "nope").read();
        assert.equal(missing.statusCode, 404);
        const { resources } = await container.items.query({
          query: "SELECT c.id, c.status FROM c WHERE c.id = @id",
          parameters: [{ name: "@id", value: id }],
        }).fetchAll();
        assert.deepEqual(resources, [{ id, status: "running" }]);
      } finally {
        client.dispose();
      }
    });
  }
});
