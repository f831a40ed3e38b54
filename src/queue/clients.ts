// Queue clients for the task queue and its poison queue: connection string (emulators), URL + shared key,
// or URL + DefaultAzureCredential.
import { QueueClient, QueueServiceClient, StorageSharedKeyCredential } from "@azure/storage-queue";
import type { Config } from "../config/schema.ts";
import { azureCredential } from "../config/credential.ts";
import { poisonQueueName } from "../config/load.ts";
import { storageHttpClient } from "../net/sdk-http-client.ts";

export function queueServiceClient(config: Config): QueueServiceClient {
  const retryOptions = { maxTries: 4, tryTimeoutInMs: 30_000, retryDelayInMs: 500, maxRetryDelayInMs: 5_000 };
  const options = {
    retryOptions,
    httpClient: storageHttpClient(config.SDK_HTTP_CLIENT),
  };
  if (config.STORAGE_QUEUE_CONNECTION_STRING) {
    return QueueServiceClient.fromConnectionString(config.STORAGE_QUEUE_CONNECTION_STRING, options);
  }
  const url = config.STORAGE_ACCOUNT_WORKER_QUEUE_URL.replace(/\/+$/, "");
  if (config.STORAGE_ACCOUNT_KEY) {
    const account = /^https?:\/\/([^.]+)\./.exec(url)?.[1] ?? "";
    return new QueueServiceClient(url, new StorageSharedKeyCredential(account, config.STORAGE_ACCOUNT_KEY), options);
  }
  return new QueueServiceClient(url, azureCredential(), options);
}

export interface TaskQueues {
  tasks: QueueClient;
  poison: QueueClient;
}

export function taskQueues(config: Config, service = queueServiceClient(config)): TaskQueues {
  return {
    tasks: service.getQueueClient(config.STORAGE_WORKER_QUEUE_NAME),
    poison: service.getQueueClient(poisonQueueName(config)),
  };
}
