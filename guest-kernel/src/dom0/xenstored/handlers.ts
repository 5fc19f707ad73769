/**
 * One function per xs_wire request type, dispatched as C xenstored 4.17 does (process_message): an
 * unknown type is ENOSYS, a privileged-only type from an unprivileged caller EACCES, an unknown
 * transaction id ENOENT; then the handler parses its payload (wire.ts rules), runs the operation on
 * the live tree or the transaction, and returns the reply plus work to do once the reply is queued
 * (watch events). Handlers throw XsdError; they never touch transports.
 */
import * as X from "./abi.ts";
import { XENSTORE_PAYLOAD_MAX } from "./abi.ts";
import type { DomainTable } from "./domains.ts";
import type { StoreMemory } from "./memory.ts";
import type { WriteRateLimit } from "./rate.ts";
import { XsdError, check } from "./errors.ts";
import * as Op from "./operations.ts";
import type { Change, OpContext } from "./operations.ts";
import { canonicalPath, domainPath, isSpecialPath } from "./path.ts";
import { formatPerms, parsePerm, type Perms } from "./perms.ts";
import type { QuotaLimits } from "./quota.ts";
import { Transaction, endAll } from "./transaction.ts";
import type { Tree } from "./tree.ts";
import { SPECIAL_WATCHES, type SpecialName, type WatchSink, type WatchTable } from "./watches.ts";
import { atou, pathAndValue, stringArgs, textOf, type XsMsg } from "./wire.ts";
import { directoryPart } from "./directory.ts";

/** Where a domain stands with xenstored: unheard of, known (named in perms), or introduced. */
export type DomainState = "unknown" | "known" | "introduced";

/** What handlers need from the server. */
export interface ServerCore {
  readonly tree: Tree;
  readonly watches: WatchTable;
  readonly quota: QuotaLimits;
  readonly domains: DomainTable;
  readonly memory: StoreMemory;
  readonly rate: WriteRateLimit;
  fire(changes: readonly Change[]): void;
  specialPerms(name: SpecialName): Perms;
  setSpecialPerms(name: SpecialName, perms: Perms): void;
  domainState(domid: number): DomainState;
  introduce(domid: number, mfn: bigint, port: number): void;
  release(domid: number): void;
  setTarget(domid: number, target: number): void;
  control(req: Requester, args: string[]): string;
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

type Handler = (core: ServerCore, req: Requester, msg: XsMsg, tx: Transaction | undefined) => Reply;

const OK: Reply = { payload: "OK\0" };

/** DOMID_SELF: IS_DOMAIN_INTRODUCED of it is always true. */
const DOMID_SELF = 0x7ff0;

/** Types only privileged callers may send (XS_FLAG_PRIV in Xen). */
const PRIVILEGED = new Set([
  X.XS_CONTROL,
  X.XS_INTRODUCE,
  X.XS_RELEASE,
  X.XS_IS_DOMAIN_INTRODUCED,
  X.XS_RESUME,
  X.XS_SET_TARGET,
]);
/** Types whose transaction id is ignored (XS_FLAG_NOTID). */
const NO_TRANSACTION = new Set([X.XS_WATCH, X.XS_UNWATCH]);

/** What every operation needs besides its store. */
function opBase(core: ServerCore, req: Requester) {
  return {
    who: req.who,
    quota: core.quota,
    domains: core.domains,
    extraMemory: (domid: number) => core.memory.extraOf(domid),
  };
}

/**
 * Runs `fn` on the right store. Outside a transaction, a mutation still runs in a throwaway
 * transaction so that a request failing half-way (a quota hit while creating parents) changes nothing.
 */
function run<T>(core: ServerCore, req: Requester, tx: Transaction | undefined, fn: (c: OpContext) => T) {
  const base = opBase(core, req);
  if (tx) {
    // A write that fails half-way leaves nothing in the transaction (Xen undoes what it made).
    const result = tx.attempt(() => fn({ ...base, store: tx, changes: tx.changes }));
    return { result, changes: [] as Change[] };
  }
  const scratch = new Transaction(0, core.tree);
  const result = fn({ ...base, store: scratch, changes: scratch.changes });
  const changes = scratch.commit();
  // Writes outside a transaction cost rate credit while others' transactions are open (rate.ts).
  if (core.tree.openTransactions > 0) core.rate.debit(req.who.domid, scratch.writes);
  return { result, changes };
}

/** A read: the result of `fn` on the live tree or the transaction (which tracks what it reads). */
function read<T>(core: ServerCore, req: Requester, tx: Transaction | undefined, fn: (c: OpContext) => T) {
  const store = tx ?? core.tree;
  return fn({ ...opBase(core, req), store, changes: [] });
}

/** A mutation: run it, reply OK, fire its watches after the reply. */
function mutation(
  core: ServerCore,
  req: Requester,
  tx: Transaction | undefined,
  fn: (c: OpContext) => void,
): Reply {
  const { changes } = run(core, req, tx, fn);
  return { payload: "OK\0", after: () => core.fire(changes) };
}

/** The request's one path argument, canonicalised for the requester. */
function pathArg(core: ServerCore, req: Requester, msg: XsMsg): string {
  return canonicalPath(stringArgs(msg.payload, 1)[0], req.who.domid, core.quota.pathMax);
}

/** A special name that has permissions, or EINVAL. */
function specialName(path: string): SpecialName {
  check((SPECIAL_WATCHES as readonly string[]).includes(path), "EINVAL", `no such special name ${path}`);
  return path as SpecialName;
}

/** RELEASE, RESUME, SET_TARGET take a domain that is introduced (find_connected_domain). */
function connectedDomain(core: ServerCore, domid: number): number {
  const state = core.domainState(domid);
  check(state !== "unknown", "ENOENT", `domain ${domid} unknown`);
  check(state === "introduced", "EINVAL", `domain ${domid} not introduced`);
  return domid;
}

/** RELEASE and RESUME: one domid, never dom0. */
function onearg_domain(core: ServerCore, msg: XsMsg): number {
  const domid = atou(stringArgs(msg.payload, 1)[0]);
  check(domid !== 0, "EINVAL", "not for domain 0");
  return connectedDomain(core, domid);
}

const HANDLERS: Record<number, Handler> = {
  [X.XS_READ]: (core, req, msg, tx) => {
    const path = pathArg(core, req, msg);
    return { payload: read(core, req, tx, (c) => Op.readNode(c, path).value) };
  },
  [X.XS_WRITE]: (core, req, msg, tx) => {
    const { path, value } = pathAndValue(msg.payload);
    const abs = canonicalPath(path, req.who.domid, core.quota.pathMax);
    return mutation(core, req, tx, (c) => Op.writeNode(c, abs, value));
  },
  [X.XS_MKDIR]: (core, req, msg, tx) => {
    const path = pathArg(core, req, msg);
    return mutation(core, req, tx, (c) => Op.makeDir(c, path));
  },
  [X.XS_RM]: (core, req, msg, tx) => {
    const path = pathArg(core, req, msg);
    return mutation(core, req, tx, (c) => Op.removeNode(c, path));
  },
  [X.XS_DIRECTORY]: (core, req, msg, tx) => {
    const path = pathArg(core, req, msg);
    const names = read(core, req, tx, (c) => Op.listChildren(c, path));
    const payload = names.map((n) => n + "\0").join("");
    // libxenstore answers E2BIG by switching to XS_DIRECTORY_PART.
    check(payload.length <= XENSTORE_PAYLOAD_MAX, "E2BIG", "directory too large for one reply");
    return { payload };
  },
  [X.XS_DIRECTORY_PART]: (core, req, msg, tx) => {
    const [path, offset] = stringArgs(msg.payload, 2);
    const abs = canonicalPath(path, req.who.domid, core.quota.pathMax);
    const node = read(core, req, tx, (c) => Op.readNode(c, abs));
    // The offset is C's atoi into an unsigned int: "abc" is 0, "-1" is past the end.
    return { payload: directoryPart(node, atou(offset)) };
  },
  [X.XS_GET_PERMS]: (core, req, msg, tx) => {
    // Xen 4.17 has no node behind a special name: GET_PERMS of one is EINVAL like any bad path.
    const path = pathArg(core, req, msg);
    return { payload: formatPerms(read(core, req, tx, (c) => Op.getPerms(c, path))) };
  },
  [X.XS_SET_PERMS]: (core, req, msg, tx) => {
    const [path, ...strings] = stringArgs(msg.payload);
    check(strings.length > 0, "EINVAL", "no permissions given");
    check(req.who.privileged || strings.length <= core.quota.permsPerNode, "ENOSPC", "too many entries");
    const parsed = strings.map(parsePerm);
    const ctx = { ...opBase(core, req), store: core.tree, changes: [] };
    const perms = Op.checkNewPerms(ctx, parsed, core.tree.generation);
    if (isSpecialPath(path)) {
      const name = specialName(path);
      const mine = Op.mayOwn(core.specialPerms(name), req.who);
      check(mine, "EACCES", `may not set the permissions of ${name}`);
      core.setSpecialPerms(name, perms);
      return OK;
    }
    const abs = canonicalPath(path, req.who.domid, core.quota.pathMax);
    return mutation(core, req, tx, (c) => Op.setPerms(c, abs, perms));
  },
  [X.XS_WATCH]: (core, req, msg) => {
    const [path, token] = stringArgs(msg.payload, 2);
    const w = core.watches.add(req, path, token, core.quota.watchesPerDomain, core.quota.pathMax);
    return { payload: "OK\0", after: () => core.watches.fireInitial(req, w) };
  },
  [X.XS_UNWATCH]: (core, req, msg) => {
    const [path, token] = stringArgs(msg.payload, 2);
    core.watches.remove(req, path, token);
    return OK;
  },
  [X.XS_RESET_WATCHES]: (core, req) => {
    core.watches.removeAll(req);
    endAll(req.transactions);
    return OK;
  },
  [X.XS_TRANSACTION_START]: (core, req, msg, tx) => {
    check(!tx, "EBUSY", "transaction inside a transaction");
    // Xen refuses only once more than the quota are open (conn->transaction_started > quota).
    const limit = core.quota.transactionsPerConnection;
    check(req.who.privileged || req.transactions.size <= limit, "ENOSPC", "transaction quota exceeded");
    const id = req.allocTxId();
    const nodes = req.who.privileged ? Infinity : core.quota.transactionNodes;
    // Its copies are charged to the requester's domain while it is open, as Xen's are.
    const payer = { domid: req.who.domid, account: core.memory, check: !req.who.privileged };
    req.transactions.set(id, new Transaction(id, core.tree, nodes, payer));
    return { payload: `${id}\0` };
  },
  [X.XS_TRANSACTION_END]: (core, req, msg, tx) => {
    const [arg] = stringArgs(msg.payload, 1);
    check(arg === "T" || arg === "F", "EINVAL", "transaction end takes T or F");
    check(tx, "ENOENT", "no transaction");
    req.transactions.delete(tx.id);
    tx.end();
    if (arg === "F") return OK;
    const changes = tx.commit(req.who.privileged ? undefined : core.quota);
    if (core.tree.openTransactions > 0) core.rate.debit(req.who.domid); // a commit among others' transactions
    return { payload: "OK\0", after: () => core.fire(changes) };
  },
  [X.XS_GET_DOMAIN_PATH]: (_core, _req, msg) => ({
    payload: domainPath(atou(stringArgs(msg.payload, 1)[0])) + "\0",
  }),
  [X.XS_IS_DOMAIN_INTRODUCED]: (core, _req, msg) => {
    const domid = atou(stringArgs(msg.payload, 1)[0]);
    const yes = domid === DOMID_SELF || core.domainState(domid) === "introduced";
    return { payload: yes ? "T\0" : "F\0" };
  },
  [X.XS_INTRODUCE]: (core, _req, msg) => {
    const args = stringArgs(msg.payload);
    check(args.length >= 3, "EINVAL", "introduce takes domid, mfn, port");
    const [domid, mfn, port] = args;
    check(atou(port) > 0, "EINVAL", `bad port "${port}"`);
    // Xen ignores the frame number (it maps the domain's reserved xenstore grant).
    core.introduce(atou(domid), /^\d{1,19}$/.test(mfn) ? BigInt(mfn) : 0n, atou(port));
    return OK;
  },
  [X.XS_RELEASE]: (core, _req, msg) => {
    core.release(onearg_domain(core, msg));
    return OK;
  },
  [X.XS_RESUME]: (core, _req, msg) => {
    onearg_domain(core, msg);
    return OK;
  },
  [X.XS_SET_TARGET]: (core, _req, msg) => {
    const args = stringArgs(msg.payload);
    check(args.length >= 2, "EINVAL", "set_target takes domid and target");
    const [domid, target] = args.map(atou);
    core.setTarget(connectedDomain(core, domid), connectedDomain(core, target));
    return OK;
  },
  [X.XS_CONTROL]: (core, req, msg) => ({ payload: core.control(req, stringArgs(msg.payload)) }),
};

/** Handles one request as process_message does; a reply that would not fit one message is E2BIG. */
export function handleRequest(core: ServerCore, req: Requester, msg: XsMsg): Reply {
  const h = HANDLERS[msg.type];
  if (!h) throw new XsdError("ENOSYS", `unknown message type ${msg.type}`);
  if (PRIVILEGED.has(msg.type)) check(req.who.privileged, "EACCES", "privileged operation");
  let tx: Transaction | undefined;
  if (!NO_TRANSACTION.has(msg.type) && msg.txId !== 0) {
    tx = req.transactions.get(msg.txId);
    check(tx, "ENOENT", `no transaction ${msg.txId}`);
  }
  const r = h(core, req, msg, tx);
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
