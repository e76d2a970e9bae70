#!/usr/bin/env node
// Thin launcher: the compiled harness CLI lives in dist/ (built on `npm install`).
import { main } from '../dist/harness/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`faultline: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(3);
  },
);
