// node:http and node:https, loaded with require: an ES import of either builds its ESM facade,
// which reads every export, and one of them (a lazy getter) loads undici, Node's fetch: ~100 ms
// at the start of every command, spent before anything is sent.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export const http = require("node:http") as typeof import("node:http");
export const https = require("node:https") as typeof import("node:https");
