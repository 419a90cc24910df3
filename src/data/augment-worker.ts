/**
 * The thread of an AugmentThread (augment-thread.ts): augments the batches it is sent and sends them back,
 * their buffers transferred rather than copied.
 */
import { parentPort } from 'node:worker_threads';
import { AugmentPipe } from './augment.js';
import type { AugmentRequest, AugmentReply } from './augment-thread.js';

const port = parentPort;
if (!port) throw new Error('augment-worker.js runs as a worker thread of an AugmentThread');
port.on('message', (r: AugmentRequest) => {
  let reply: AugmentReply;
  try {
    const { images, labels } = new AugmentPipe(r.probability).augmentBatch(r.pixels, r.shape, r.seed, r.batch, r.batchSize);
    reply = { id: r.id, images, labels };
  } catch (e) {
    reply = { id: r.id, error: (e as Error).message };
  }
  port.postMessage(reply, reply.images ? [reply.images.buffer as ArrayBuffer, reply.labels!.buffer as ArrayBuffer] : []);
});
