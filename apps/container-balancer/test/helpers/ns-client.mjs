// Runs inside a network namespace (ip netns exec): performs the HTTP requests given as JSON on argv[2] and prints
// one JSON line with their statuses and bodies. The test process cannot reach the namespace's loopback itself.
const requests = JSON.parse(process.argv[2]);
const out = [];
for (const r of requests) {
  try {
    const res = await fetch(r.url, {
      method: r.method ?? 'GET',
      headers: r.body ? { 'content-type': 'application/json', ...(r.headers ?? {}) } : (r.headers ?? {}),
      body: r.body ? JSON.stringify(r.body) : undefined,
    });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    out.push({ status: res.status, body });
  } catch (err) {
    out.push({ status: 0, error: String(err) });
  }
}
process.stdout.write(`${JSON.stringify(out)}\n`);
