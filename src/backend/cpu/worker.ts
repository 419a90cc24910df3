/** Entry point of the CPU backend's worker threads (see pool.ts). */
import { parentPort, workerData } from 'node:worker_threads';
import { type WorkerData, serveTasks } from './pool.js';
// Loading the backend loads every kernel module, and with them every parallel task they define.
import './index.js';

if (parentPort === null) throw new Error('worker.js runs as a CPU backend worker thread only');
serveTasks(parentPort, workerData as WorkerData);
