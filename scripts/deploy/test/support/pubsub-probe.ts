/**
 * Run as a child process with NODE_EXTRA_CA_CERTS (Node's global WebSocket takes no per-connection
 * CA): opens seed 002's `/pubsub` at argv[2] (the access token in `?access_token=`, as browsers send
 * it), publishes status argv[4] with a seed-style timestamp, subscribes to the user argv[3] (itself),
 * and prints the first status frame about that user as one JSON line ({"frame": …} or {"error": …}).
 */
const [url = '', userId = '', status = '2'] = process.argv.slice(2);

const timer = setTimeout(() => {
  console.log(JSON.stringify({ error: 'no frame within 30 s' }));
  process.exit(1);
}, 30_000);

const socket = new WebSocket(url);
socket.addEventListener('open', () => {
  // The status first, then the SUBSCRIBE, in two frames: the answer to the second carries the first.
  socket.send(JSON.stringify({ status: Number(status), timestamp: '1627128694.693686' }));
  socket.send(JSON.stringify({ events: { [userId]: 9 } }));
});
socket.addEventListener('message', (event) => {
  const frame = JSON.parse(String(event.data)) as { status?: number; publisher?: string };
  if (frame.publisher !== userId || frame.status !== Number(status)) return;
  clearTimeout(timer);
  console.log(JSON.stringify({ frame }));
  socket.close(1000);
  setTimeout(() => process.exit(0), 100);
});
socket.addEventListener('error', () => {
  console.log(JSON.stringify({ error: 'the WebSocket failed' }));
  process.exit(1);
});
