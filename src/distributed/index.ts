export { type Communicator } from './communicator.js';
export { NcclCommunicator } from './nccl-communicator.js';
export { NcclError, probeNccl } from './nccl.js';
export { ThreadCommunicator, type ThreadGroup, threadGroup } from './thread-communicator.js';
export { type RankEnvironment, rankEnvironment, selectLocalGpu } from './environment.js';
export { type LaunchOptions, type LaunchResult, launchRanks } from './launcher.js';
