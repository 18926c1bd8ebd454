// Streaming parser for the backup manifest (one JSON document that may hold millions of entries).
//
// A resumable byte scanner with an explicit stack. At the four "streamed" levels (root object,
// root.sources, each source object, a source's `entries` array) it tokenizes the JSON grammar
// itself (key / colon / value / comma or close). Every other value is only delimited — string- and
// escape-aware, counting bracket depth; primitives end at a delimiter — and its byte slice is handed
// to JSON.parse, which does all the validation. Only a partial value is kept across chunks, so
// memory is bounded by maxValueBytes + maxSkeletonBytes whatever the input (which is hostile).

export interface ManifestStreamLimits {
  maxValueBytes: number;
  maxSkeletonBytes: number;
}

const MAX_DEPTH = 64;
/** Charged to the skeleton per member of a streamed object, for its bookkeeping (property, key set). */
const MEMBER_OVERHEAD = 32;

const QUOTE = 0x22,
  BSLASH = 0x5c,
  COMMA = 0x2c,
  COLON = 0x3a;
const LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACK = 0x5b,
  RBRACK = 0x5d;
/** JSON whitespace (exactly the four bytes JSON.parse accepts). */
const WS = new Uint8Array(256);
WS[0x20] = WS[0x09] = WS[0x0a] = WS[0x0d] = 1;
/** Bytes that end a primitive (number / literal); anything else stays in its slice for JSON.parse to judge. */
const DELIM = WS.slice();
DELIM[COMMA] = DELIM[RBRACE] = DELIM[RBRACK] = 1;

// Frame levels and their parser states.
const TOP = 0,
  ROOT = 1,
  SOURCES = 2,
  SOURCE = 3,
  ENTRIES = 4;
const KEY_OR_END = 0,
  KEY = 1,
  COLON_ = 2,
  VALUE = 3,
  VALUE_OR_END = 4,
  COMMA_OR_END = 5,
  DONE = 6;
// Kinds of delimited value being scanned.
const NONE = 0,
  STRING = 1,
  CONTAINER = 2,
  PRIMITIVE = 3;

interface Frame {
  level: number;
  state: number;
  obj: Record<string, unknown>;
  keys: Set<string>;
  key: string; // the key whose value comes next (objects)
  name: string; // the source name (SOURCE, ENTRIES)
  count: number; // elements seen (ENTRIES)
}

const describeByte = (c: number) =>
  c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16)}`;

class Parser {
  private readonly stack: Frame[] = [this.frame(TOP, VALUE, "")];
  private result: unknown;
  private skeleton = 0;
  private pos = 0; // absolute offset of the current chunk's first byte
  // The delimited value in progress, if any.
  private kind = NONE;
  private isKey = false;
  private valStart = 0; // its start in the current chunk
  private depth = 0;
  private inStr = false;
  private esc = false;
  private parts: Buffer[] = []; // its bytes from previous chunks (copies)
  private partLen = 0;

  constructor(
    private readonly onEntry: (source: string, value: unknown, index: number) => void,
    private readonly limits: ManifestStreamLimits,
  ) {}

  private frame(level: number, state: number, name: string): Frame {
    return { level, state, obj: {}, keys: new Set(), key: "", name, count: 0 };
  }

  private fail(msg: string, at: number): never {
    throw new Error(`manifest JSON: ${msg} at byte ${this.pos + at}`);
  }

  write(buf: Buffer): void {
    const n = buf.length;
    let i = 0;
    if (this.kind !== NONE) i = this.scan(buf, 0);
    while (i >= 0 && i < n) {
      const c = buf[i];
      if (WS[c]) {
        i++;
        continue;
      }
      const f = this.stack[this.stack.length - 1];
      switch (f.state) {
        case KEY_OR_END:
        case KEY:
          if (c === RBRACE && f.state === KEY_OR_END) {
            i++;
            this.close();
            break;
          }
          if (c !== QUOTE) this.fail(`expected a key string, got ${describeByte(c)}`, i);
          i = this.begin(buf, i, true);
          break;
        case COLON_:
          if (c !== COLON) this.fail(`expected ':', got ${describeByte(c)}`, i);
          f.state = VALUE;
          i++;
          break;
        case COMMA_OR_END:
          if (c === COMMA) f.state = f.level === ENTRIES ? VALUE : KEY;
          else if (c === (f.level === ENTRIES ? RBRACK : RBRACE)) this.close();
          else this.fail(`expected ',' or a closing bracket, got ${describeByte(c)}`, i);
          i++;
          break;
        case VALUE_OR_END:
        case VALUE: {
          if (c === RBRACK && f.state === VALUE_OR_END) {
            i++;
            this.close();
            break;
          }
          if (c === COMMA || c === RBRACE || c === RBRACK) this.fail(`expected a value, got ${describeByte(c)}`, i);
          // Does this value open another streamed level?
          const L = f.level;
          const child =
            c === LBRACE
              ? L === TOP
                ? ROOT
                : L === ROOT && f.key === "sources"
                  ? SOURCES
                  : L === SOURCES
                    ? SOURCE
                    : -1
              : c === LBRACK && L === SOURCE && f.key === "entries"
                ? ENTRIES
                : -1;
          if (child < 0) {
            i = this.begin(buf, i, false);
            break;
          }
          this.stack.push(
            this.frame(child, child === ENTRIES ? VALUE_OR_END : KEY_OR_END, L === SOURCES ? f.key : f.name),
          );
          i++;
          break;
        }
        default: // DONE: only whitespace may follow the document
          this.fail(`unexpected ${describeByte(c)} after the end of the document`, i);
      }
    }
    this.pos += n;
  }

  end(): unknown {
    if (this.kind === PRIMITIVE) this.finish(Buffer.alloc(0), 0); // a primitive may end at end of input
    if (this.kind !== NONE || this.stack.length !== 1 || this.stack[0].state !== DONE)
      this.fail("unexpected end of input", 0);
    return this.result;
  }

  /** Starts delimiting a value (or key) whose first byte is buf[i]; returns where scanning resumes, or -1. */
  private begin(buf: Buffer, i: number, isKey: boolean): number {
    const c = buf[i];
    this.isKey = isKey;
    this.valStart = i;
    this.esc = false;
    if (c === QUOTE) {
      this.kind = STRING;
      return this.scan(buf, i + 1);
    }
    if (c === LBRACE || c === LBRACK) {
      this.kind = CONTAINER;
      this.depth = 1;
      this.inStr = false;
      if (this.stack.length > MAX_DEPTH) this.fail("nesting too deep", i);
      return this.scan(buf, i + 1);
    }
    this.kind = PRIMITIVE;
    return this.scan(buf, i);
  }

  /** Continues delimiting the current value from buf[i]: returns the index just past it, or -1 if buf ran out. */
  private scan(buf: Buffer, i: number): number {
    const n = buf.length;
    let end = -1;
    if (this.kind === STRING) {
      let esc = this.esc;
      for (; i < n; i++) {
        const c = buf[i];
        if (esc) esc = false;
        else if (c === BSLASH) esc = true;
        else if (c === QUOTE) {
          end = i + 1;
          break;
        }
      }
      this.esc = esc;
    } else if (this.kind === CONTAINER) {
      let depth = this.depth,
        inStr = this.inStr,
        esc = this.esc;
      const maxDepth = MAX_DEPTH - (this.stack.length - 1); // streamed levels already open count too
      for (; i < n; i++) {
        const c = buf[i];
        if (inStr) {
          if (esc) esc = false;
          else if (c === BSLASH) esc = true;
          else if (c === QUOTE) inStr = false;
        } else if (c === QUOTE) inStr = true;
        else if (c === LBRACE || c === LBRACK) {
          if (++depth > maxDepth) this.fail("nesting too deep", i);
        } else if (c === RBRACE || c === RBRACK) {
          if (--depth === 0) {
            end = i + 1;
            break;
          }
        }
      }
      this.depth = depth;
      this.inStr = inStr;
      this.esc = esc;
    } else {
      for (; i < n; i++)
        if (DELIM[buf[i]]) {
          end = i;
          break;
        }
    }
    if (end >= 0) {
      this.finish(buf, end);
      return end;
    }
    // The value continues in the next chunk: keep a copy of its bytes so far (bounded by the limit).
    const len = n - this.valStart;
    if (this.partLen + len > this.limits.maxValueBytes)
      this.fail(`value larger than ${this.limits.maxValueBytes} bytes`, n);
    if (len > 0) {
      this.parts.push(Buffer.from(buf.subarray(this.valStart)));
      this.partLen += len;
    }
    this.valStart = 0;
    return -1;
  }

  /** The current value ends at buf[end]: parses its text and hands it to its frame. */
  private finish(buf: Buffer, end: number): void {
    const bytes = this.partLen + end - this.valStart;
    if (bytes > this.limits.maxValueBytes) this.fail(`value larger than ${this.limits.maxValueBytes} bytes`, end);
    let text: string;
    if (this.parts.length === 0) text = buf.toString("utf8", this.valStart, end);
    else {
      this.parts.push(buf.subarray(0, end));
      text = Buffer.concat(this.parts, bytes).toString("utf8");
      this.parts = [];
      this.partLen = 0;
    }
    this.kind = NONE;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      this.fail(`invalid value (${(e as Error).message})`, end);
    }
    const f = this.stack[this.stack.length - 1];
    if (this.isKey) {
      const key = value as string;
      if (f.keys.has(key)) this.fail(`duplicate key ${JSON.stringify(key.slice(0, 100))}`, end);
      f.keys.add(key);
      f.key = key;
      f.state = COLON_;
      this.charge(bytes + MEMBER_OVERHEAD, end);
    } else if (f.level === ENTRIES) {
      f.state = COMMA_OR_END;
      this.onEntry(f.name, value, f.count++);
    } else {
      this.charge(bytes, end);
      this.assign(value);
    }
  }

  private charge(bytes: number, at: number): void {
    this.skeleton += bytes;
    if (this.skeleton > this.limits.maxSkeletonBytes)
      this.fail(`manifest (without entries) larger than ${this.limits.maxSkeletonBytes} bytes`, at);
  }

  /** A streamed level closed: its value is its object, or for an entries array the element count. */
  private close(): void {
    const f = this.stack.pop()!;
    this.assign(f.level === ENTRIES ? f.count : f.obj);
  }

  private assign(value: unknown): void {
    const f = this.stack[this.stack.length - 1];
    if (f.level === TOP) {
      this.result = value;
      f.state = DONE;
      return;
    }
    // defineProperty, like JSON.parse, makes "__proto__" an ordinary own property.
    Object.defineProperty(f.obj, f.key, { value, writable: true, enumerable: true, configurable: true });
    f.state = COMMA_OR_END;
  }
}

/**
 * Parses a JSON document arriving in chunks. Returns the document, except that every array found
 * exactly at path root.sources.<any name>.entries is replaced by the number of its elements; each
 * element of such an array is parsed (JSON.parse of its own text is fine) and passed to
 * onEntry(sourceName, value, index) in order, synchronously, as soon as it is complete.
 * Throws a plain Error on any input JSON.parse rejects, on a duplicate key in the root, sources or a
 * source object, on nesting deeper than 64, and when a limit is exceeded.
 */
export async function parseManifestStream(
  source: AsyncIterable<Buffer>,
  onEntry: (source: string, value: unknown, index: number) => void,
  limits?: Partial<ManifestStreamLimits>,
): Promise<unknown> {
  const parser = new Parser(onEntry, {
    maxValueBytes: limits?.maxValueBytes ?? 16 * 1024 * 1024,
    maxSkeletonBytes: limits?.maxSkeletonBytes ?? 64 * 1024 * 1024,
  });
  for await (const chunk of source) parser.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return parser.end();
}
