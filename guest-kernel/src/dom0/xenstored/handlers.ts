/**
 * One function per xs_wire request type: parse the payload (wire.ts rules), check privilege, run the
 * operation against the live tree or the named transaction, and return the reply payload plus work
 * to do once the reply is queued (watch events). Handlers throw XsdError; they never touch transports.
 */
import * as X from "./abi.ts";
import { XENSTORE_PAYLOAD_MAX } from "./abi.ts";
import { XsdError, check } from "./errors.ts";
import * as Op from "./operations.ts";
import type { Change, OpContext } from "./operations.ts";
import { canonicalPath, domainPath } from "./path.ts";
import { formatPerms, parsePerm } from "./perms.ts";
import type { QuotaLimits } from "./quota.ts";
import { Transaction } from "./transaction.ts";
import type { Tree } from "./tree.ts";
import type { WatchSink, WatchTable } from "./watches.ts";
import { pathAndValue, stringArgs, textOf, type XsMsg } from "./wire.ts";
import { directoryPart } from "./directory.ts";

/** What handlers need from the server. */
export interface ServerCore {
  readonly tree: Tree;
  readonly watches: WatchTable;
  readonly quota: Readonly<QuotaLimits>;
  fire(changes: readonly Change[]): void;
  introduce(domid: number, mfn: bigint, port: number): void;
  release(domid: number): void;
  isIntroduced(domid: number): boolean;
  control(args: string[]): string;
  setTarget(domid: number, target: number): void;
}

/** The requesting side: a connection (or dom0's in-process client). */
export interface Requester extends WatchSink {
  readonly transactions: Map<number, Transaction>;
  allocTxId(): number;
}

/** A handler's answer: the reply payload, and what to do once the reply is on its way. */
export interface Reply {
  payload: Uint8Array | string;
  after?: () => void;
}

type Handler = (core: ServerCore, req: Requester, msg: XsMsg) => Reply;

const OK: Reply = { payload: "OK\0" };

/**
 * Runs `fn` on the right store. Outside a transaction, a mutation still runs in a throwaway
 * transaction so that a request failing half-way (a quota hit while creating parents) changes nothing.
 */
function run<T>(core: ServerCore, req: Requester, msg: XsMsg, mutate: boolean, fn: (c: OpContext) => T) {
  const base = { who: req.who, quota: core.quota };
  if (msg.txId !== 0) {
    const tx = req.transactions.get(msg.txId);
    check(tx, "ENOENT", `no transaction ${msg.txId}`);
    if (!req.who.privileged) check(tx.size < core.quota.transactionNodes, "ENOSPC", "transaction too big");
    return { result: fn({ ...base, store: tx, changes: tx.changes }), changes: [] as Change[] };
  }
  if (!mutate) return { result: fn({ ...base, store: core.tree, changes: [] }), changes: [] as Change[] };
  const tx = new Transaction(0, core.tree);
  const result = fn({ ...base, store: tx, changes: tx.changes });
  return { result, changes: tx.commit() };
}

/** A path argument, canonicalised for the requester. */
function pathArg(req: Requester, msg: XsMsg): string {
  return canonicalPath(stringArgs(msg.payload, 1)[0], req.who.domid);
}

/** A mutation: run it, reply OK, fire its watches after the reply. */
function mutation(core: ServerCore, req: Requester, msg: XsMsg, fn: (c: OpContext) => void): Reply {
  const { changes } = run(core, req, msg, true, fn);
  return { payload: "OK\0", after: () => core.fire(changes) };
}

function privileged(req: Requester): void {
  check(req.who.privileged, "EACCES", "privileged operation");
}

/** A domid argument: decimal, within u16. */
function domidArg(s: string): number {
  check(/^\d{1,5}$/.test(s) && Number(s) <= 0xffff, "EINVAL", `bad domid "${s}"`);
  return Number(s);
}

const HANDLERS: Record<number, Handler> = {
  [X.XS_READ]: (core, req, msg) => {
    const path = pathArg(req, msg);
    return { payload: run(core, req, msg, false, (c) => Op.readNode(c, path).value).result };
  },
  [X.XS_WRITE]: (core, req, msg) => {
    const { path, value } = pathAndValue(msg.payload);
    const abs = canonicalPath(path, req.who.domid);
    return mutation(core, req, msg, (c) => Op.writeNode(c, abs, value));
  },
  [X.XS_MKDIR]: (core, req, msg) => {
    const path = pathArg(req, msg);
    return mutation(core, req, msg, (c) => Op.makeDir(c, path));
  },
  [X.XS_RM]: (core, req, msg) => {
    const path = pathArg(req, msg);
    return mutation(core, req, msg, (c) => Op.removeNode(c, path));
  },
  [X.XS_DIRECTORY]: (core, req, msg) => {
    const path = pathArg(req, msg);
    const names = run(core, req, msg, false, (c) => Op.listChildren(c, path)).result;
    const payload = names.map((n) => n + "\0").join("");
    // libxenstore answers E2BIG by switching to XS_DIRECTORY_PART.
    check(payload.length <= XENSTORE_PAYLOAD_MAX, "E2BIG", "directory too large for one reply");
    return { payload };
  },
  [X.XS_DIRECTORY_PART]: (core, req, msg) => {
    const [path, offset] = stringArgs(msg.payload, 2);
    const abs = canonicalPath(path, req.who.domid);
    check(/^\d{1,10}$/.test(offset), "EINVAL", "bad offset");
    const node = run(core, req, msg, false, (c) => Op.readNode(c, abs)).result;
    return { payload: directoryPart(node, Number(offset)) };
  },
  [X.XS_GET_PERMS]: (core, req, msg) => {
    const path = pathArg(req, msg);
    return { payload: formatPerms(run(core, req, msg, false, (c) => Op.getPerms(c, path)).result) };
  },
  [X.XS_SET_PERMS]: (core, req, msg) => {
    const [path, ...perms] = stringArgs(msg.payload);
    check(perms.length > 0, "EINVAL", "no permissions given");
    const abs = canonicalPath(path, req.who.domid);
    const parsed = perms.map(parsePerm);
    return mutation(core, req, msg, (c) => Op.setPerms(c, abs, parsed));
  },
  [X.XS_WATCH]: (core, req, msg) => {
    const [path, token] = stringArgs(msg.payload, 2);
    const w = core.watches.add(req, path, token, core.quota.watchesPerDomain);
    return { payload: "OK\0", after: () => core.watches.fireInitial(req, w) };
  },
  [X.XS_UNWATCH]: (core, req, msg) => {
    const [path, token] = stringArgs(msg.payload, 2);
    core.watches.remove(req, path, token);
    return OK;
  },
  [X.XS_RESET_WATCHES]: (core, req) => {
    core.watches.removeAll(req);
    req.transactions.clear();
    return OK;
  },
  [X.XS_TRANSACTION_START]: (core, req, msg) => {
    check(msg.txId === 0, "EBUSY", "transaction inside a transaction");
    const limit = core.quota.transactionsPerConnection;
    check(req.who.privileged || req.transactions.size < limit, "ENOSPC", "transaction quota exceeded");
    const id = req.allocTxId();
    req.transactions.set(id, new Transaction(id, core.tree));
    return { payload: `${id}\0` };
  },
  [X.XS_TRANSACTION_END]: (core, req, msg) => {
    const [arg] = stringArgs(msg.payload, 1);
    check(arg === "T" || arg === "F", "EINVAL", "transaction end takes T or F");
    const tx = req.transactions.get(msg.txId);
    check(tx, "ENOENT", `no transaction ${msg.txId}`);
    req.transactions.delete(msg.txId);
    if (arg === "F") return OK;
    const changes = tx.commit();
    return { payload: "OK\0", after: () => core.fire(changes) };
  },
  [X.XS_GET_DOMAIN_PATH]: (_core, _req, msg) => ({
    payload: domainPath(domidArg(stringArgs(msg.payload, 1)[0])) + "\0",
  }),
  [X.XS_IS_DOMAIN_INTRODUCED]: (core, _req, msg) => ({
    payload: core.isIntroduced(domidArg(stringArgs(msg.payload, 1)[0])) ? "T\0" : "F\0",
  }),
  [X.XS_INTRODUCE]: (core, req, msg) => {
    privileged(req);
    const [domid, mfn, port] = stringArgs(msg.payload, 3);
    check(/^\d{1,20}$/.test(mfn) && /^\d{1,10}$/.test(port), "EINVAL", "bad mfn or port");
    core.introduce(domidArg(domid), BigInt(mfn), Number(port));
    return OK;
  },
  [X.XS_RELEASE]: (core, req, msg) => {
    privileged(req);
    const domid = domidArg(stringArgs(msg.payload, 1)[0]);
    check(core.isIntroduced(domid), "ENOENT", `domain ${domid} not introduced`);
    core.release(domid);
    return OK;
  },
  [X.XS_RESUME]: (core, req, msg) => {
    privileged(req);
    const domid = domidArg(stringArgs(msg.payload, 1)[0]);
    check(core.isIntroduced(domid), "ENOENT", `domain ${domid} not introduced`);
    return OK;
  },
  [X.XS_SET_TARGET]: (core, req, msg) => {
    privileged(req);
    const [domid, target] = stringArgs(msg.payload, 2).map(domidArg);
    check(core.isIntroduced(domid), "ENOENT", `domain ${domid} not introduced`);
    core.setTarget(domid, target);
    return OK;
  },
  [X.XS_CONTROL]: (core, req, msg) => {
    privileged(req);
    return { payload: core.control(stringArgs(msg.payload)) };
  },
};

/**
 * Handles one request. Unknown types, and types only the server sends (XS_WATCH_EVENT, XS_ERROR),
 * are EINVAL; a reply that would not fit one message is E2BIG.
 */
export function handleRequest(core: ServerCore, req: Requester, msg: XsMsg): Reply {
  const h = HANDLERS[msg.type];
  if (!h) throw new XsdError("EINVAL", `unknown message type ${msg.type}`);
  const r = h(core, req, msg);
  const len = typeof r.payload === "string" ? r.payload.length : r.payload.length;
  check(len <= XENSTORE_PAYLOAD_MAX, "E2BIG", "reply too large");
  return r;
}

/** Debug aid for logs: the first argument of a request, printable. */
export function describeRequest(msg: XsMsg): string {
  const first = textOf(msg.payload.subarray(0, 64))
    .split("\0")[0]
    .replace(/[^\x20-\x7e]/g, "?");
  return `type ${msg.type} req ${msg.reqId} tx ${msg.txId} "${first}"`;
}
