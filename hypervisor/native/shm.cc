// pvkit_shm: machine memory that several processes share. The hypervisor's process and its cell
// processes (where domU workers run) map one memfd — the machine's RAM — and each hands its workers
// SharedArrayBuffers over single 4 KiB frames of it: a worker can touch only the frames it was handed,
// as with frames made in one process, but now another process sees the same bytes. Atomics work on
// them within a process; across processes a waiter sleeps and wakes on a futex (Linux).
//
// An arena is a mapping of part of that file: the hypervisor maps all of it, a cell only the frames
// its domain was handed (a run of them, or one), so what a process can read — by any means, a
// speculative one included — is what it was given.
//
// Rule: an arena is never unmapped (views point into it); offsets and lengths are checked against
// the mapping before any view or futex touches it.
#include "bell.h"

#include <node.h>
#include <node_buffer.h>
#include <v8.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/futex.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/statfs.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

using namespace v8;

namespace {

struct Arena {
  int fd;
  uint8_t* base;
  size_t length;
  size_t file_offset;  // where in the file the mapping starts
};

std::mutex arenas_lock;
std::vector<Arena> arenas;  // by id; never shrinks

void Throw(Isolate* iso, const char* what, int err) {
  std::string m = std::string(what) + ": " + strerror(err);
  iso->ThrowException(Exception::Error(String::NewFromUtf8(iso, m.c_str()).ToLocalChecked()));
}

void ThrowRange(Isolate* iso, const char* m) {
  iso->ThrowException(Exception::RangeError(String::NewFromUtf8(iso, m).ToLocalChecked()));
}

bool Integer(const Local<Value>& v, double max, size_t* out) {
  if (!v->IsNumber()) return false;
  double d = v.As<Number>()->Value();
  if (!(d >= 0 && d <= max) || d != static_cast<double>(static_cast<uint64_t>(d))) return false;
  *out = static_cast<size_t>(d);
  return true;
}

// create(bytes) -> fd: an anonymous file of `bytes` (sparse: nothing is committed until touched).
void Create(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  size_t bytes;
  if (!Integer(a[0], 1ull << 46, &bytes) || bytes % 4096 != 0) return ThrowRange(iso, "arena size");
  int fd = memfd_create("pvkit-machine-memory", 0);
  if (fd < 0) return Throw(iso, "memfd_create", errno);
  if (ftruncate(fd, static_cast<off_t>(bytes)) < 0) {
    int e = errno;
    close(fd);
    return Throw(iso, "ftruncate", e);
  }
  a.GetReturnValue().Set(fd);
}

// map(fd, bytes, offset = 0) -> arena id: [offset, offset + bytes) of the file, shared, read-write.
void MapArena(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  size_t fd, bytes, offset = 0;
  if (!Integer(a[0], 1 << 30, &fd) || !Integer(a[1], 1ull << 46, &bytes) || bytes == 0 || bytes % 4096 != 0)
    return ThrowRange(iso, "arena fd or size");
  if (a.Length() > 2 && (!Integer(a[2], 1ull << 46, &offset) || offset % 4096 != 0))
    return ThrowRange(iso, "arena offset");
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, static_cast<int>(fd),
                 static_cast<off_t>(offset));
  if (p == MAP_FAILED) return Throw(iso, "mmap", errno);
  std::lock_guard<std::mutex> g(arenas_lock);
  arenas.push_back({static_cast<int>(fd), static_cast<uint8_t*>(p), bytes, offset});
  a.GetReturnValue().Set(static_cast<uint32_t>(arenas.size() - 1));
}

bool Find(Isolate* iso, const Local<Value>& id, Arena* out) {
  size_t i;
  std::lock_guard<std::mutex> g(arenas_lock);
  if (!Integer(id, 1 << 20, &i) || i >= arenas.size()) {
    ThrowRange(iso, "no such arena");
    return false;
  }
  *out = arenas[i];
  return true;
}

// view(id, offset, length) -> a SharedArrayBuffer over [offset, offset + length) of the arena.
void View(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Arena ar;
  if (!Find(iso, a[0], &ar)) return;
  size_t off, len;
  if (!Integer(a[1], 1ull << 46, &off) || !Integer(a[2], 1ull << 46, &len) || off % 8 != 0 || len == 0 ||
      off > ar.length || len > ar.length - off)
    return ThrowRange(iso, "view outside the arena");
  // The arena outlives every view: nothing to free when a view is collected.
  std::unique_ptr<BackingStore> bs =
      SharedArrayBuffer::NewBackingStore(ar.base + off, len, [](void*, size_t, void*) {}, nullptr);
  a.GetReturnValue().Set(SharedArrayBuffer::New(iso, std::move(bs)));
}

// release(id, offset, length): gives the pages back to the host (they read as zeros afterwards).
void Release(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  Arena ar;
  if (!Find(iso, a[0], &ar)) return;
  size_t off, len;
  if (!Integer(a[1], 1ull << 46, &off) || !Integer(a[2], 1ull << 46, &len) || off % 4096 != 0 ||
      len % 4096 != 0 || off > ar.length || len > ar.length - off)
    return ThrowRange(iso, "release outside the arena");
  if (fallocate(ar.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                static_cast<off_t>(ar.file_offset + off), static_cast<off_t>(len)) < 0)
    return Throw(iso, "fallocate", errno);
}

// punchHole(fd, offset, length): frees a byte range of any host file, which then reads as zeros
// (blkback's BLKIF_OP_DISCARD on a raw image). Throws "fallocate: <reason>" where the file system
// cannot punch holes.
void PunchHole(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  size_t fd, off, len;
  if (!Integer(a[0], 1 << 30, &fd) || !Integer(a[1], 1ull << 52, &off) || !Integer(a[2], 1ull << 52, &len))
    return ThrowRange(iso, "punchHole(fd, offset, length) takes whole numbers");
  if (fallocate(static_cast<int>(fd), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                static_cast<off_t>(len)) < 0)
    return Throw(iso, "fallocate", errno);
}

// preadvNoWait(fd, views, position) -> bytes read, or -1 when none of them is in the host's page
// cache (preadv2 with RWF_NOWAIT answered EAGAIN). blkback serves the part of a read the page cache
// holds on dom0's own thread, a memcpy, and sends only the rest through libuv's thread pool: no
// thread hop and no completion to wake a blocked dom0 for. It never waits for the disk, so it never
// stalls dom0. A short count is legal (the range was cached in part). A kernel or file system that
// does not know the flag (EOPNOTSUPP, EINVAL) also gets -1: the caller then reads the usual way.
void PreadvNoWait(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  size_t fd, pos;
  if (!Integer(a[0], 1 << 30, &fd) || !a[1]->IsArray() || !Integer(a[2], 1ull << 52, &pos))
    return ThrowRange(iso, "preadvNoWait(fd, views, position) takes a number, an array, a number");
  Local<Array> list = a[1].As<Array>();
  uint32_t n = list->Length();
  if (n == 0 || n > IOV_MAX) return ThrowRange(iso, "preadvNoWait: 1..IOV_MAX views");
  std::vector<struct iovec> iov(n);
  Local<Context> ctx = iso->GetCurrentContext();
  for (uint32_t i = 0; i < n; i++) {
    Local<Value> v;
    if (!list->Get(ctx, i).ToLocal(&v) || !v->IsArrayBufferView())
      return ThrowRange(iso, "preadvNoWait: every view must be a TypedArray or DataView");
    iov[i].iov_base = node::Buffer::Data(v);
    iov[i].iov_len = node::Buffer::Length(v);
  }
  ssize_t r = preadv2(static_cast<int>(fd), iov.data(), static_cast<int>(n), static_cast<off_t>(pos),
                      RWF_NOWAIT);
  if (r < 0 && errno != EAGAIN && errno != EOPNOTSUPP && errno != EINVAL) return Throw(iso, "preadv2", errno);
  a.GetReturnValue().Set(static_cast<double>(r < 0 ? -1 : r));
}

// The 32-bit word at byte `off` of a SharedArrayBuffer, checked.
int32_t* Word(Isolate* iso, const Local<Value>& sabv, const Local<Value>& offv) {
  if (!sabv->IsSharedArrayBuffer()) {
    ThrowRange(iso, "not a SharedArrayBuffer");
    return nullptr;
  }
  std::shared_ptr<BackingStore> bs = sabv.As<SharedArrayBuffer>()->GetBackingStore();
  size_t off;
  if (!Integer(offv, 1ull << 46, &off) || off % 4 != 0 || off + 4 > bs->ByteLength()) {
    ThrowRange(iso, "futex word outside the buffer");
    return nullptr;
  }
  return reinterpret_cast<int32_t*>(static_cast<uint8_t*>(bs->Data()) + off);
}

// wait(sab, byteOffset, expected, timeoutMs) -> "ok" | "not-equal" | "timed-out": FUTEX_WAIT on a
// shared mapping, so a wake from any process that maps the same memory ends it.
void Wait(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  int32_t* w = Word(iso, a[0], a[1]);
  if (!w) return;
  int32_t expected = a[2]->Int32Value(iso->GetCurrentContext()).FromMaybe(0);
  double ms = a[3]->IsNumber() ? a[3].As<Number>()->Value() : -1;
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (ms >= 0) {
    ts.tv_sec = static_cast<time_t>(ms / 1000);
    ts.tv_nsec = static_cast<long>((ms - static_cast<double>(ts.tv_sec) * 1000) * 1e6);
    tsp = &ts;
  }
  long r = syscall(SYS_futex, w, FUTEX_WAIT, expected, tsp, nullptr, 0);
  const char* s = r == 0 ? "ok" : errno == EAGAIN ? "not-equal" : errno == ETIMEDOUT ? "timed-out" : "ok";
  a.GetReturnValue().Set(String::NewFromUtf8(iso, s).ToLocalChecked());
}

// wake(sab, byteOffset, count) -> how many waiters were woken, in any process.
void Wake(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  int32_t* w = Word(iso, a[0], a[1]);
  if (!w) return;
  int32_t count = a[2]->Int32Value(iso->GetCurrentContext()).FromMaybe(1);
  long r = syscall(SYS_futex, w, FUTEX_WAKE, count, nullptr, nullptr, 0);
  a.GetReturnValue().Set(static_cast<double>(r < 0 ? 0 : r));
}

// Source watching for the guest image cache (hypervisor/src/image/source-watch.ts). Before every
// domain it starts, the hypervisor asks whether a source file of the kernel or the program changed
// since the image was built; a stat(2) of each of ~120 files cost ~0.6 ms of every create. inotify
// answers the same question with one read(2): the kernel queues an event for a watched file before
// the write that changed it returns, so, unlike fs.watch (whose events wait for the event loop), a
// file written and then built at once is seen. The caller stats the files only after an event (any
// event: which file does not matter). Linux only, like the rest of this addon.
//
// What inotify does not see, a watch is refused for: a file on a network or FUSE file system, where
// another machine (or the host of a VM's shared folder) may change it without an event here. Writes
// through a shared mmap make no event either; editors and compilers write files.
constexpr uint32_t kFileMask =
    IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_DELETE_SELF;
// A directory on the way to a watched file: only its own move or deletion (a `git checkout` of a
// folder moved aside puts new files behind the same names, and their old watches say nothing).
constexpr uint32_t kDirMask = IN_MOVE_SELF | IN_DELETE_SELF | IN_ONLYDIR;

// File systems whose files may change without an inotify event on this machine.
bool RemoteFileSystem(const char* path) {
  struct statfs fs;
  if (statfs(path, &fs) != 0) return true;  // cannot tell: do not trust a watch
  switch (static_cast<uint32_t>(fs.f_type)) {
    case 0x6969:      // NFS
    case 0x517b:      // SMB
    case 0xff534d42:  // CIFS
    case 0xfe534d42:  // SMB2
    case 0x01021997:  // 9P (WSL's drives, QEMU's shared folders)
    case 0x65735546:  // FUSE (virtiofs, sshfs, ...)
    case 0x00c36400:  // Ceph
    case 0x5346414f:  // AFS
    case 0x73757245:  // Coda
    case 0x786f4256:  // VirtualBox shared folders
    case 0x7461636f:  // OCFS2
    case 0x01161970:  // GFS2
      return true;
    default:
      return false;
  }
}

// watchOpen(): an inotify instance (non-blocking, close-on-exec: cells do not inherit it); its fd.
void WatchOpen(const FunctionCallbackInfo<Value>& a) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return Throw(a.GetIsolate(), "inotify_init1", errno);
  a.GetReturnValue().Set(fd);
}

// watchAdd(fd, path, directory): watches the file `path` names (through symlinks) for any change,
// or the directory for its own move or deletion; 0, or the errno when it cannot (ENOENT, ENOSPC
// past fs.inotify.max_user_watches, EREMOTE for a file system inotify cannot speak for, ...).
void WatchAdd(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  size_t fd;
  if (!Integer(a[0], INT_MAX, &fd) || !a[1]->IsString())
    return ThrowRange(iso, "watchAdd(fd, path, directory) takes a number, a string, a boolean");
  String::Utf8Value path(iso, a[1]);
  if (RemoteFileSystem(*path)) return a.GetReturnValue().Set(EREMOTE);
  bool dir = a[2]->IsTrue();
  int wd = inotify_add_watch(static_cast<int>(fd), *path, dir ? kDirMask : kFileMask);
  a.GetReturnValue().Set(wd < 0 ? errno : 0);
}

// watchDrain(fd): reads every queued event; how many bytes of events there were (0: no change),
// or -1 when the instance cannot be read: no longer to be trusted, the caller stats from then on.
void WatchDrain(const FunctionCallbackInfo<Value>& a) {
  size_t fd;
  if (!Integer(a[0], INT_MAX, &fd))
    return ThrowRange(a.GetIsolate(), "watchDrain(fd) takes a number");
  alignas(struct inotify_event) char buf[4096];
  double total = 0;
  for (;;) {
    ssize_t r = read(static_cast<int>(fd), buf, sizeof buf);
    if (r > 0) {
      total += static_cast<double>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;  // nothing more queued
    return a.GetReturnValue().Set(-1);  // EBADF, EINVAL, EIO, or end of file: not an inotify fd
  }
  a.GetReturnValue().Set(total);
}

// mallocTrim(): gives the C heap's free pages back to the kernel, on a thread of its own; false if
// a trim is still running (this one is then not needed) or the C library has no malloc_trim. glibc
// keeps what a thread frees in that thread's arena and returns it to the kernel only from an
// arena's top, so after a domain's boot — V8 compiles in zones of malloc'd memory and frees them —
// most of those pages stay the process's for good. malloc_trim walks every arena and gives back
// every free page. It holds each arena's lock while it walks that arena's free blocks, so a thread
// that allocates meanwhile waits: a few ms for an ordinary heap, seconds for one a guest has cut
// into tens of thousands of free blocks. Call it only in a process whose threads all serve the
// same domain (a cell: memory/heap-trim.ts).
std::atomic<bool> trimming{false};

void* TrimThread(void*) {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  trimming.store(false);
  return nullptr;
}

void MallocTrim(const FunctionCallbackInfo<Value>& a) {
#ifndef __GLIBC__
  return a.GetReturnValue().Set(false);
#endif
  if (trimming.exchange(true)) return a.GetReturnValue().Set(false);
  pthread_t t;
  if (pthread_create(&t, nullptr, TrimThread, nullptr) != 0) {  // no thread to be had: no trim
    trimming.store(false);
    return a.GetReturnValue().Set(false);
  }
  pthread_detach(t);
  a.GetReturnValue().Set(true);
}

}  // namespace

NODE_MODULE_INIT() {
  NODE_SET_METHOD(exports, "create", Create);
  NODE_SET_METHOD(exports, "map", MapArena);
  NODE_SET_METHOD(exports, "view", View);
  NODE_SET_METHOD(exports, "release", Release);
  NODE_SET_METHOD(exports, "wait", Wait);
  NODE_SET_METHOD(exports, "wake", Wake);
  NODE_SET_METHOD(exports, "punchHole", PunchHole);
  NODE_SET_METHOD(exports, "preadvNoWait", PreadvNoWait);
  NODE_SET_METHOD(exports, "watchOpen", WatchOpen);
  NODE_SET_METHOD(exports, "watchAdd", WatchAdd);
  NODE_SET_METHOD(exports, "watchDrain", WatchDrain);
  NODE_SET_METHOD(exports, "mallocTrim", MallocTrim);
  NODE_SET_METHOD(exports, "bellPair", BellPair);
  NODE_SET_METHOD(exports, "bellWatch", BellWatch);
  NODE_SET_METHOD(exports, "bellClose", BellClose);
  NODE_SET_METHOD(exports, "bellRing", BellRing);
  NODE_SET_METHOD(exports, "bellSendEnd", BellSendEnd);
  NODE_SET_METHOD(exports, "bellSend", BellSend);
  NODE_SET_METHOD(exports, "bellSendClose", BellSendClose);
}
