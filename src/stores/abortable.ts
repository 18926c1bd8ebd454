import type { Readable } from "node:stream";
import type { ObjectInfo, Store } from "./store.js";

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error("aborted");
}

/**
 * Runs op unless the signal has fired; rejects as soon as it fires, so a call stuck on a stalled
 * store stops holding the job. The abandoned call's own outcome is swallowed (never unhandled).
 */
function raced<T>(op: () => Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(reasonOf(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reasonOf(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    let p: Promise<T>;
    try {
      p = op();
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function either(a: AbortSignal, b: AbortSignal): AbortSignal {
  const ac = new AbortController();
  for (const s of [a, b]) {
    if (s.aborted) ac.abort(s.reason);
    else s.addEventListener("abort", () => ac.abort(s.reason), { once: true });
  }
  return ac.signal;
}

/**
 * A store whose every call ends when the job's signal fires (deadline, SIGTERM): reads are
 * destroyed, listings stop, and a call stuck on a stalled server or mount is abandoned.
 */
export function abortableStore(store: Store, signal?: AbortSignal): Store {
  if (!signal) return store;
  const out: Store = {
    description: store.description,
    partSize: store.partSize,
    put: (key, body, o) => {
      if (signal.aborted) body.destroy();
      return raced(() => store.put(key, body, { ...o, signal: o?.signal ? either(o.signal, signal) : signal }), signal);
    },
    get: async (key, o) => {
      const s: Readable = await raced(() => store.get(key, { ...o, signal }), signal);
      const onAbort = () => {
        s.once("error", () => {}); // a reader not yet attached must not turn the abort into a crash
        s.destroy(reasonOf(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      s.once("close", () => signal.removeEventListener("abort", onAbort));
      return s;
    },
    list: async function* (prefix: string): AsyncGenerator<ObjectInfo> {
      const it = store.list(prefix)[Symbol.asyncIterator]();
      try {
        for (;;) {
          const r = await raced(() => it.next(), signal);
          if (r.done) return;
          yield r.value;
        }
      } finally {
        it.return?.()?.catch(() => {});
      }
    },
    delete: (key) => raced(() => store.delete(key), signal),
  };
  if (store.has) out.has = (key) => raced(() => store.has!(key), signal);
  if (store.leftovers) out.leftovers = (o) => raced(() => store.leftovers!(o), signal);
  if (store.extendRetention)
    out.extendRetention = (key, days, o) => raced(() => store.extendRetention!(key, days, { ...o, signal }), signal);
  if (store.abortStaleUploads)
    out.abortStaleUploads = (before) => raced(() => store.abortStaleUploads!(before), signal);
  return out;
}
