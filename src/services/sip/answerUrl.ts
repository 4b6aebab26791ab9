import { request } from 'undici';

/** POSTs JSON to the application's `answer_url` and reads its JSON answer (5 s, 64 KiB at most). */
export async function askJson(url: string, body: object, signal: AbortSignal): Promise<unknown> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    // Given up after 5 s, or at once when the gateway shuts down.
    signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]),
  });
  if (res.statusCode < 200 || res.statusCode > 299) {
    await res.body.dump();
    throw new Error(`answer_url answered ${String(res.statusCode)}`);
  }
  const text = await res.body.text();
  if (text.length > 64 * 1024) throw new Error('answer_url answer too large');
  return JSON.parse(text) as unknown;
}
