/**
 * The storm's domain (wake-storm.test.ts): a raw guest that boots, says so, and never traps again,
 * so that every call on its vCPU is the storm's — the writes of a worker that escaped its realm.
 * A realm timer keeps its worker alive (a worker with nothing pending would end).
 */
import { report } from "../../guests/raw.ts";

report({ up: true });
setInterval(() => {}, 1 << 30);
