// Standalone entry: `faultline toxiproxy [--host H] [--port P]` runs the
// built-in server until SIGINT/SIGTERM, like the toxiproxy-server binary.

import { startToxiproxyServer } from './server.js';

export async function runToxiproxyMain(argv: string[], log: (line: string) => void = console.log): Promise<void> {
  let host = '127.0.0.1';
  let port = 8474;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if ((arg === '--host' || arg === '-host') && value !== undefined) {
      host = value;
      i++;
    } else if ((arg === '--port' || arg === '-port') && value !== undefined) {
      port = Number(value);
      i++;
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port: ${value}`);
    } else {
      throw new Error(`unknown argument: ${arg ?? ''} (expected --host H --port P)`);
    }
  }
  const server = await startToxiproxyServer({ host, port });
  log(`toxiproxy API listening on ${server.url}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await server.close();
}
