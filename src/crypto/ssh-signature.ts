// SSH signatures (OpenSSH's SSHSIG format, PROTOCOL.sshsig) with Ed25519 keys, from node:crypto alone.
// Chosen so that anyone can check a signature by hand with the standard tool:
//   ssh-keygen -Y verify -f allowed_signers -I strongbox -n strongbox-backup -s complete.json.sig < complete.json
// Everything parsed here may come from a repository a forger writes to: every length is bounded,
// every field is checked, nothing is trailing, and a signature file is refused unread over 16 KiB.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from "node:crypto";

/** What complete.json's signature is made for; a drill report's namespace differs, so neither replays as the other. */
export const BACKUP_NAMESPACE = "strongbox-backup";
export const DRILL_NAMESPACE = "strongbox-drill";
/** A real armored Ed25519 SSHSIG is ~300 bytes; anything over this is refused without reading it. */
export const MAX_SIGNATURE_BYTES = 16 * 1024;
/** The comment `strongbox keygen --signing` gives a key. */
export const DEFAULT_KEY_COMMENT = "strongbox-signing";

const MAGIC = Buffer.from("SSHSIG");
const KEY_TYPE = "ssh-ed25519";
const SIG_BEGIN = "-----BEGIN SSH SIGNATURE-----";
const SIG_END = "-----END SSH SIGNATURE-----";
const KEY_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const KEY_END = "-----END OPENSSH PRIVATE KEY-----";
const OPENSSH_MAGIC = Buffer.from("openssh-key-v1\0");

/** A signature, key or key file that is not what it must be; the message says what is wrong. */
export class SignatureFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SignatureFormatError";
  }
}

export interface SshPublicKey {
  /** The 32-byte Ed25519 public key. */
  raw: Buffer;
  /** `ssh-ed25519 AAAA…` without a comment: the key's identity. */
  line: string;
  comment: string;
  /** As ssh-keygen -l prints it: `SHA256:…` (base64 without padding). */
  fingerprint: string;
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: SshPublicKey;
}

// ---- SSH wire encoding ------------------------------------------------------------------------

function sshString(b: Buffer | string): Buffer {
  const body = typeof b === "string" ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A bounded reader over an SSH wire blob: every read checks what is left. */
class Reader {
  private at = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}
  bytes(n: number, field: string): Buffer {
    if (this.at + n > this.buf.length) throw new SignatureFormatError(`${this.what}: truncated (${field})`);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint32(field: string): number {
    return this.bytes(4, field).readUInt32BE(0);
  }
  string(field: string, max: number): Buffer {
    const n = this.uint32(field);
    if (n > max) throw new SignatureFormatError(`${this.what}: ${field} is ${n} bytes, more than ${max}`);
    return this.bytes(n, field);
  }
  text(field: string, max: number): string {
    const b = this.string(field, max);
    if (!/^[\x21-\x7e]*$/.test(b.toString("latin1")))
      throw new SignatureFormatError(`${this.what}: ${field} is not printable ASCII`);
    return b.toString("latin1");
  }
  get left(): number {
    return this.buf.length - this.at;
  }
  end(): void {
    if (this.left) throw new SignatureFormatError(`${this.what}: ${this.left} unexpected trailing byte(s)`);
  }
}

function ed25519Blob(raw: Buffer): Buffer {
  return Buffer.concat([sshString(KEY_TYPE), sshString(raw)]);
}

/** The raw key from a `string "ssh-ed25519" string key[32]` blob; nothing else is accepted. */
function parseKeyBlob(blob: Buffer, what: string): Buffer {
  const r = new Reader(blob, what);
  const type = r.text("key type", 64);
  if (type !== KEY_TYPE) throw new SignatureFormatError(`${what}: key type ${type} is not ${KEY_TYPE}`);
  const raw = r.string("public key", 32);
  if (raw.length !== 32)
    throw new SignatureFormatError(`${what}: an Ed25519 public key has 32 bytes, not ${raw.length}`);
  r.end();
  return Buffer.from(raw);
}

// ---- public keys ------------------------------------------------------------------------------

export function fingerprint(raw: Buffer): string {
  return `SHA256:${createHash("sha256").update(ed25519Blob(raw)).digest("base64").replace(/=+$/, "")}`;
}

export function publicKeyFromRaw(raw: Buffer, comment = ""): SshPublicKey {
  const line = `${KEY_TYPE} ${ed25519Blob(raw).toString("base64")}`;
  return { raw: Buffer.from(raw), line, comment, fingerprint: fingerprint(raw) };
}

/** `ssh-ed25519 AAAA… [comment]` → the key, or a SignatureFormatError naming the problem. */
export function parsePublicKeyLine(text: string): SshPublicKey {
  if (typeof text !== "string" || text.length > 1024)
    throw new SignatureFormatError("not an SSH public key line (too long)");
  const m = /^\s*(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*?))?\s*$/.exec(text);
  if (!m) throw new SignatureFormatError("not an SSH public key line (expected 'ssh-ed25519 AAAA… [comment]')");
  if (m[1] !== KEY_TYPE)
    throw new SignatureFormatError(`key type ${m[1].slice(0, 40)} is not ${KEY_TYPE} (strongbox signs with Ed25519)`);
  const blob = Buffer.from(m[2], "base64");
  if (blob.toString("base64") !== m[2]) throw new SignatureFormatError("the key's base64 is malformed");
  const raw = parseKeyBlob(blob, "public key");
  return publicKeyFromRaw(raw, m[3] ?? "");
}

export function formatPublicKeyLine(key: SshPublicKey): string {
  return key.comment ? `${key.line} ${key.comment}` : key.line;
}

function nodePublicKey(raw: Buffer): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
}

// ---- private keys -----------------------------------------------------------------------------

function wrap(b64: string, width: number): string {
  return b64.match(new RegExp(`.{1,${width}}`, "g"))!.join("\n");
}

/**
 * A new Ed25519 key as an unencrypted OpenSSH private key file (what `ssh-keygen -t ed25519 -N ''`
 * writes), so `ssh-keygen -y -f FILE` prints its public key and `ssh-keygen -Y sign` can use it.
 */
export function generateSigningKey(comment = DEFAULT_KEY_COMMENT): { privateKeyText: string; publicKey: SshPublicKey } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d!, "base64url");
  const raw = Buffer.from(jwk.x!, "base64url");
  const check = randomBytes(4);
  let secret = Buffer.concat([
    check,
    check,
    sshString(KEY_TYPE),
    sshString(raw),
    sshString(Buffer.concat([seed, raw])),
    sshString(comment),
  ]);
  const pad = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    OPENSSH_MAGIC,
    sshString("none"),
    sshString("none"),
    sshString(""),
    uint32(1),
    sshString(ed25519Blob(raw)),
    sshString(secret),
  ]);
  secret.fill(0);
  seed.fill(0);
  return {
    privateKeyText: `${KEY_BEGIN}\n${wrap(body.toString("base64"), 70)}\n${KEY_END}\n`,
    publicKey: publicKeyFromRaw(raw, comment),
  };
}

/**
 * Reads a signing key: an unencrypted OpenSSH Ed25519 private key (`ssh-keygen -t ed25519 -N ''`,
 * `strongbox keygen --signing`) or a PKCS#8 PEM Ed25519 key (`openssl genpkey -algorithm ed25519`).
 * The messages never include key material.
 */
export function parsePrivateKey(text: string): SigningKey {
  if (text.length > 64 * 1024) throw new SignatureFormatError("not a signing key (larger than 64 KiB)");
  const t = text.trim();
  if (t.startsWith("-----BEGIN PRIVATE KEY-----")) {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: t, format: "pem" });
    } catch {
      throw new SignatureFormatError("not a readable PKCS#8 private key");
    }
    if (key.asymmetricKeyType !== "ed25519")
      throw new SignatureFormatError(`a ${key.asymmetricKeyType} key, not Ed25519`);
    const raw = Buffer.from(createPublicKey(key).export({ format: "jwk" }).x!, "base64url");
    return { privateKey: key, publicKey: publicKeyFromRaw(raw) };
  }
  if (!t.startsWith(KEY_BEGIN) || !t.endsWith(KEY_END)) {
    throw new SignatureFormatError(
      `not an OpenSSH private key (expected ${KEY_BEGIN}; make one with 'strongbox keygen --signing')`,
    );
  }
  const b64 = t.slice(KEY_BEGIN.length, t.length - KEY_END.length).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new SignatureFormatError("OpenSSH private key: malformed base64");
  const body = Buffer.from(b64, "base64");
  if (!body.subarray(0, OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC))
    throw new SignatureFormatError("OpenSSH private key: bad magic");
  const r = new Reader(body.subarray(OPENSSH_MAGIC.length), "OpenSSH private key");
  const cipher = r.text("cipher", 64);
  const kdf = r.text("kdf", 64);
  r.string("kdf options", 1024);
  if (cipher !== "none" || kdf !== "none")
    throw new SignatureFormatError(
      `OpenSSH private key is passphrase-protected (${cipher}): strongbox needs an unencrypted key (ssh-keygen -p -N '' -f FILE removes the passphrase)`,
    );
  if (r.uint32("key count") !== 1) throw new SignatureFormatError("OpenSSH private key: holds more than one key");
  const pub = parseKeyBlob(r.string("public key", 1024), "OpenSSH private key");
  const sec = new Reader(r.string("private section", 4096), "OpenSSH private key");
  r.end();
  if (!sec.bytes(4, "check").equals(sec.bytes(4, "check")))
    throw new SignatureFormatError("OpenSSH private key: check bytes differ (corrupt)");
  const type = sec.text("key type", 64);
  if (type !== KEY_TYPE) throw new SignatureFormatError(`OpenSSH private key: a ${type} key, not ${KEY_TYPE}`);
  const pub2 = sec.string("public key", 32);
  const priv = sec.string("private key", 64);
  if (priv.length !== 64 || !pub2.equals(pub) || !priv.subarray(32).equals(pub))
    throw new SignatureFormatError("OpenSSH private key: inconsistent Ed25519 key (corrupt)");
  const comment = sec.string("comment", 1024).toString("utf8");
  const padding = sec.bytes(sec.left, "padding");
  if (padding.length >= 8 || padding.some((b, i) => b !== i + 1))
    throw new SignatureFormatError("OpenSSH private key: bad padding (corrupt)");
  // The public key must really be this seed's (node checks it): a file whose halves disagree would sign unverifiably.
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: { kty: "OKP", crv: "Ed25519", d: priv.subarray(0, 32).toString("base64url"), x: pub.toString("base64url") },
      format: "jwk",
    });
  } catch {
    throw new SignatureFormatError("OpenSSH private key: the public key does not belong to the private key (corrupt)");
  }
  return { privateKey, publicKey: publicKeyFromRaw(pub, comment) };
}

// ---- signatures -------------------------------------------------------------------------------

const HASHES = new Set(["sha256", "sha512"]);

function signedData(namespace: string, hash: string, message: Buffer): Buffer {
  const digest = createHash(hash).update(message).digest();
  return Buffer.concat([MAGIC, sshString(namespace), sshString(""), sshString(hash), sshString(digest)]);
}

/** The armored SSHSIG of `message` (sha512, as ssh-keygen -Y sign makes it). */
export function signMessage(key: SigningKey, namespace: string, message: Buffer): string {
  const sig = sign(null, signedData(namespace, "sha512", message), key.privateKey);
  const blob = Buffer.concat([
    MAGIC,
    uint32(1),
    sshString(ed25519Blob(key.publicKey.raw)),
    sshString(namespace),
    sshString(""),
    sshString("sha512"),
    sshString(Buffer.concat([sshString(KEY_TYPE), sshString(sig)])),
  ]);
  return armor(blob);
}

export function armor(blob: Buffer): string {
  return `${SIG_BEGIN}\n${wrap(blob.toString("base64"), 70)}\n${SIG_END}\n`;
}

/** The SSHSIG blob inside an armored signature; strict: the two armor lines around base64 lines, nothing else. */
export function dearmor(text: Buffer | string): Buffer {
  const buf = typeof text === "string" ? Buffer.from(text) : text;
  if (buf.length > MAX_SIGNATURE_BYTES)
    throw new SignatureFormatError(`signature is ${buf.length} bytes, more than ${MAX_SIGNATURE_BYTES}`);
  const s = buf.toString("latin1");
  if (!/^[\x20-\x7e\r\n]*$/.test(s)) throw new SignatureFormatError("signature is not armored text");
  const lines = s
    .replace(/\r\n/g, "\n")
    .replace(/\n+$/, "")
    .split("\n")
    .map((l) => l.trimEnd());
  if (lines[0] !== SIG_BEGIN || lines[lines.length - 1] !== SIG_END || lines.length < 3)
    throw new SignatureFormatError(`signature is not an armored SSH signature (${SIG_BEGIN} … ${SIG_END})`);
  const b64 = lines.slice(1, -1).join("");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0)
    throw new SignatureFormatError("signature: malformed base64");
  return Buffer.from(b64, "base64");
}

export interface ParsedSignature {
  publicKey: SshPublicKey;
  namespace: string;
  hash: string;
  signature: Buffer;
}

/** Parses an armored SSHSIG (Ed25519 only), without checking it. */
export function parseSignature(text: Buffer | string): ParsedSignature {
  const blob = dearmor(text);
  const r = new Reader(blob, "signature");
  if (!r.bytes(6, "magic").equals(MAGIC)) throw new SignatureFormatError("signature: not an SSHSIG (bad magic)");
  const version = r.uint32("version");
  if (version !== 1) throw new SignatureFormatError(`signature: version ${version}, not 1`);
  const raw = parseKeyBlob(r.string("public key", 1024), "signature");
  const namespace = r.text("namespace", 256);
  if (r.string("reserved", 256).length) throw new SignatureFormatError("signature: the reserved field is not empty");
  const hash = r.text("hash algorithm", 32);
  if (!HASHES.has(hash)) throw new SignatureFormatError(`signature: hash algorithm ${hash} is not sha256 or sha512`);
  const sr = new Reader(r.string("signature", 1024), "signature");
  r.end();
  const type = sr.text("signature type", 64);
  if (type !== KEY_TYPE) throw new SignatureFormatError(`signature: type ${type} is not ${KEY_TYPE}`);
  const signature = sr.string("signature bytes", 64);
  if (signature.length !== 64)
    throw new SignatureFormatError(`signature: an Ed25519 signature has 64 bytes, not ${signature.length}`);
  sr.end();
  return { publicKey: publicKeyFromRaw(raw), namespace, hash, signature: Buffer.from(signature) };
}

/**
 * Checks an armored SSHSIG over `message` for `namespace`. Returns the signer's key when the
 * signature is valid; throws a SignatureFormatError saying why not. Whether the signer is trusted
 * is the caller's question.
 */
export function verifyMessage(text: Buffer | string, namespace: string, message: Buffer): SshPublicKey {
  const sig = parseSignature(text);
  if (sig.namespace !== namespace)
    throw new SignatureFormatError(`signature is for namespace ${sig.namespace}, not ${namespace}`);
  let ok: boolean;
  try {
    ok = verify(null, signedData(namespace, sig.hash, message), nodePublicKey(sig.publicKey.raw), sig.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new SignatureFormatError(`signature by ${sig.publicKey.fingerprint} does not match these bytes`);
  return sig.publicKey;
}
