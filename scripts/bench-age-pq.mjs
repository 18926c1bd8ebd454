// Prints what a hybrid post-quantum (age1pq1) recipient costs per encrypted object: header bytes and time
// to build the header, against X25519. Run after `npm run build`: node scripts/bench-age-pq.mjs
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { randomBytes } from "node:crypto";
import { buildHeader, createEncryptStream, createDecryptStream } from "../dist/crypto/age.js";
import { generateIdentity, generatePqIdentity } from "../dist/crypto/age-keys.js";

const x = generateIdentity();
const pq = await generatePqIdentity();
const N = 50;

async function headerCost(label, recipients) {
  await buildHeader(recipients); // warm up
  const t0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < N; i++) bytes = (await buildHeader(recipients)).header.length;
  console.log(
    `${label.padEnd(22)} header ${String(bytes).padStart(5)} B   build ${((performance.now() - t0) / N).toFixed(2)} ms/object`,
  );
  return bytes;
}

async function decryptCost(label, recipients, identity) {
  const enc = [];
  await pipeline(Readable.from([Buffer.from("x")]), createEncryptStream(recipients), async (s) => {
    for await (const c of s) enc.push(c);
  });
  const file = Buffer.concat(enc);
  const t0 = performance.now();
  for (let i = 0; i < N; i++)
    await pipeline(Readable.from([file]), createDecryptStream([identity]), async (s) => {
      for await (const _ of s);
    });
  console.log(`${label.padEnd(22)} open header + 1 byte ${((performance.now() - t0) / N).toFixed(2)} ms/object`);
}

async function throughput(recipients) {
  const piece = randomBytes(1024 * 1024);
  const pieces = function* () {
    for (let i = 0; i < 256; i++) yield piece;
  };
  const t0 = performance.now();
  await pipeline(Readable.from(pieces()), createEncryptStream(recipients), async (s) => {
    for await (const _ of s);
  });
  console.log(
    `payload encrypt        ${(256 / ((performance.now() - t0) / 1000)).toFixed(0)} MiB/s (256 MiB in 1 MiB pieces, native STREAM)`,
  );
}

const bx = await headerCost("x25519", [x.recipient]);
const bp = await headerCost("pq-hybrid", [pq.recipient]);
await headerCost("x25519 + pq-hybrid", [x.recipient, pq.recipient]);
await decryptCost("x25519", [x.recipient], x.identity);
await decryptCost("pq-hybrid", [pq.recipient], pq.identity);
console.log(
  `a hybrid stanza adds ${bp - bx} B per object over X25519; a backup of S sources stores S + 1 age objects (sources + manifest)`,
);
await throughput([x.recipient, pq.recipient]);
