// A free loopback TCP port, found by letting the kernel pick one for a listener bound to 127.0.0.1.
// Invariant: the port was free on 127.0.0.1 at the moment of the call. Another process can still take it
// before the caller binds, so every server starter here retries on a fresh port when binding fails.
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a loopback listener'));
        return;
      }
      server.close((err) => (err ? reject(err) : resolve(address.port)));
    });
  });
}
