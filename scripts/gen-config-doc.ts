/** Regenerates docs/config.md from the config schema: `npm run build && node dist/scripts/gen-config-doc.js`. */
import { writeFileSync } from 'node:fs';
import { configReference } from '../src/train/config.js';

writeFileSync(new URL('../../docs/config.md', import.meta.url), configReference());
console.log('wrote docs/config.md');
