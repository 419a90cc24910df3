export { Adam, AdamW, type AdamOptions, type AdamState } from './adam.js';
