#!/usr/bin/env node
// Thin launcher: the compiled server lives in dist/ (built on `npm install`).
import { main } from '../dist/etcd/main.js';

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`faultline-etcd: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
