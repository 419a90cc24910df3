/**
 * A thread of AugmentThreads (augment-thread.ts): augments the images it is sent with the choices sent
 * along and sends them back, their buffers transferred rather than copied.
 */
import { parentPort } from 'node:worker_threads';
import { applyAugmentation } from './augment.js';
import { imagesToFloat } from './images-to-tensor.js';
import type { AugmentRequest, AugmentReply } from './augment-thread.js';

const port = parentPort;
if (!port) throw new Error('augment-worker.js runs as a worker thread of AugmentThreads');
port.on('message', (r: AugmentRequest) => {
  let reply: AugmentReply;
  try {
    const { images, labels } = applyAugmentation(imagesToFloat(r.pixels), r.shape, r.params);
    reply = { id: r.id, images, labels };
  } catch (e) {
    reply = { id: r.id, error: (e as Error).message };
  }
  port.postMessage(reply, reply.images ? [reply.images.buffer as ArrayBuffer, reply.labels!.buffer as ArrayBuffer] : []);
});
