// Bells: how the hypervisor and a cell wake each other's event loop (hypervisor/src/realm/wakes.ts).
// A bell is a socket pair, one end in each process; a byte written to one end means "look at the
// shared memory", and nothing else. A guest in a cell rings the hypervisor's end when the trap
// service sleeps; the hypervisor rings the cell's end to answer a trap the guest waits for with its
// event loop free (SCHEDOP_block).
//
// Why in C++: a byte read through a net.Socket goes through Node's stream machinery — a Buffer
// made, a "data" event emitted, the readable state updated — which on the development machine
// costs more than the wake-up itself: two processes waking each other with a byte took 48-57 µs a
// round trip through net.Socket, 27-29 µs with the byte read here by a libuv poll handle that calls
// one JS function, against 23-24 µs for two threads of one process (Atomics.waitAsync).
//
// Rule: a watch belongs to the thread (event loop) that made it, and is closed by that thread or
// when that thread's Node environment ends; its fd is written only through its id (never by number:
// once closed, the number may name another file). What a peer writes is drained and counted as one
// ring, however many bytes it was, so a flooding peer costs one callback per turn of the loop, and
// about as much CPU to read as it spends writing.
//
// A send end (bellSendEnd) is the other kind of end: not watched, written from any thread of this
// process. It serves the hypervisor's own worker threads (domUs with cells off), which ring the
// trap service's bell rather than Atomics.notify its doorbell: the notify reaches a sleeping
// event loop as a task posted through V8's platform, the byte as a poll event read here, about
// 5 µs sooner (docs/hypervisor.md, "The trap"). Rule: it is written only through its id, under the
// lock that its close takes, so no write can reach a number a close has freed.
#include "bell.h"

#include <node.h>
#include <uv.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

using namespace v8;

namespace {

struct Watch {
  uv_poll_t poll;
  Isolate* iso;
  uv_loop_t* loop;
  Global<Context> ctx;
  Global<Function> fn;
  int fd;
  size_t id;
};

// By id; a closed watch leaves nullptr, and ids are never reused. Never freed: worker threads may
// still close theirs while the process exits and runs static destructors.
std::mutex watches_lock;
std::vector<Watch*>& watches = *new std::vector<Watch*>();

// What a turn reads at most from a live peer: a peer that writes without end costs the reader about
// what it costs the writer (a smaller buffer let 208 KiB writes cost the hypervisor 20 times the
// flooding cell's CPU).
constexpr size_t kReadBytes = 64 * 1024;
constexpr int kReadsPerTurn = 16;
// From a peer that is gone, everything is read: on a kernel that lets it pass file descriptors
// (before Linux 6.16, which has SO_PASSRIGHTS: BellPair), what it left queued can hold some, and
// one of its own pipes held open that way would keep its exit unheard. The bound is a backstop;
// what it leaves goes when the hypervisor closes its end at the cell's exit.
constexpr int kReadsAfterEnd = 4096;

void ThrowError(Isolate* iso, const std::string& m) {
  iso->ThrowException(Exception::Error(String::NewFromUtf8(iso, m.c_str()).ToLocalChecked()));
}

// libuv has let go of the handle: now its fd may be closed (libuv takes it out of epoll first).
// A watch that never started (fd -1) leaves its fd to the caller.
void Freed(uv_handle_t* h) {
  Watch* w = static_cast<Watch*>(h->data);
  if (w->fd >= 0) close(w->fd);
  delete w;
}

// Takes the watch out of the table and stops it; fd and Watch go once libuv has closed the handle.
void Shut(Watch* w) {
  {
    std::lock_guard<std::mutex> g(watches_lock);
    watches[w->id] = nullptr;
  }
  w->fn.Reset();
  w->ctx.Reset();
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), Freed);
}

// The thread's Node environment is ending (a cell's worker exits): its loop must close with no
// handle of ours open.
void Cleanup(void* arg) { Shut(static_cast<Watch*>(arg)); }

void OnReadable(uv_poll_t* h, int status, int) {
  Watch* w = static_cast<Watch*>(h->data);
  static thread_local char* buf = new char[kReadBytes];  // one per thread that reads bells
  // An error (libuv has stopped the handle): the peer reset the connection, so it is gone.
  bool rung = false, gone = status < 0, ended = false;
  for (int reads = 0; reads < (gone ? kReadsAfterEnd : kReadsPerTurn); reads++) {
    ssize_t r = read(w->fd, buf, kReadBytes);
    if (r > 0) {
      rung = true;
      continue;
    }
    // ECONNRESET: the peer closed with our bytes unread; what it wrote before is still queued.
    if (r < 0 && (errno == EINTR || errno == ECONNRESET)) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    ended = true;  // end of file (the peer is gone) or an error: nothing more will come
    break;
  }
  // A closed peer keeps the socket readable; watching on would call this in every turn.
  if (gone || ended) uv_poll_stop(h);
  if (!rung) return;
  HandleScope scope(w->iso);
  Local<Context> ctx = w->ctx.Get(w->iso);
  Context::Scope in(ctx);
  // Last: the callback may close this very watch.
  node::MakeCallback(w->iso, ctx->Global(), w->fn.Get(w->iso), 0, nullptr, {0, 0});
}

// The open watch `a[0]` names, if this thread made it (only its thread may close it, so it stays
// valid here after the lock is let go).
Watch* Find(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  double id = a[0]->IsNumber() ? a[0].As<Number>()->Value() : -1;
  std::lock_guard<std::mutex> g(watches_lock);
  if (!(id >= 0 && id < static_cast<double>(watches.size())) || id != static_cast<double>(static_cast<size_t>(id)))
    return nullptr;
  Watch* w = watches[static_cast<size_t>(id)];
  if (w && w->loop != node::GetCurrentEventLoop(iso)) return nullptr;  // another thread's
  return w;
}

// Send ends, by id: their fds, -1 once closed; ids are never reused. Never freed, as `watches`.
std::mutex senders_lock;
std::vector<int>& senders = *new std::vector<int>();

// The id in a[0], if it is a whole number inside `size`.
bool IdOf(const FunctionCallbackInfo<Value>& a, size_t size, size_t* id) {
  double v = a[0]->IsNumber() ? a[0].As<Number>()->Value() : -1;
  if (!(v >= 0 && v < static_cast<double>(size)) || v != static_cast<double>(static_cast<size_t>(v))) return false;
  *id = static_cast<size_t>(v);
  return true;
}

}  // namespace

// SO_PASSRIGHTS (Linux 6.16): whether a socket takes file descriptors a peer sends it.
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif

// bellPair() -> [a, b]: a non-blocking, close-on-exec socket pair. `b` is given to a child process
// (spawn's stdio dup2s it, which clears close-on-exec there), `a` is watched here and refuses file
// descriptors: reading a byte that carried one would release it on this thread, and releasing a
// socket that lingers can block for as long as its sender chose. (Older kernels ignore the option;
// there a cell that took over its process could stall the thread that reads its bell this way.)
void BellPair(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
    return ThrowError(iso, std::string("socketpair: ") + strerror(errno));
  int no = 0;
  setsockopt(fds[0], SOL_SOCKET, SO_PASSRIGHTS, &no, sizeof no);
  Local<Context> ctx = iso->GetCurrentContext();
  Local<Array> pair = Array::New(iso, 2);
  pair->Set(ctx, 0, Integer::New(iso, fds[0])).Check();
  pair->Set(ctx, 1, Integer::New(iso, fds[1])).Check();
  a.GetReturnValue().Set(pair);
}

// bellWatch(fd, onRing) -> id: calls onRing() on this thread's event loop after bytes arrive on
// `fd` (they are read and dropped). The watch does not keep the loop alive, and owns `fd` from now
// on: bellClose closes it.
void BellWatch(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  if (!a[0]->IsInt32() || a[0].As<Int32>()->Value() < 0 || !a[1]->IsFunction())
    return ThrowError(iso, "bellWatch(fd, onRing) takes an fd and a function");
  uv_loop_t* loop = node::GetCurrentEventLoop(iso);
  if (!loop) return ThrowError(iso, "bellWatch: no event loop on this thread");
  Watch* w = new Watch();
  w->iso = iso;
  w->loop = loop;
  w->fd = a[0].As<Int32>()->Value();
  int e = uv_poll_init(loop, &w->poll, w->fd);
  if (e == 0) {
    w->poll.data = w;
    e = uv_poll_start(&w->poll, UV_READABLE, OnReadable);
    if (e != 0) {
      w->fd = -1;  // the caller still owns it, as when uv_poll_init fails
      uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), Freed);
    }
  } else {
    delete w;
  }
  if (e != 0) return ThrowError(iso, std::string("bellWatch: ") + uv_strerror(e));
  uv_unref(reinterpret_cast<uv_handle_t*>(&w->poll));
  w->ctx.Reset(iso, iso->GetCurrentContext());
  w->fn.Reset(iso, a[1].As<Function>());
  node::AddEnvironmentCleanupHook(iso, Cleanup, w);
  std::lock_guard<std::mutex> g(watches_lock);
  w->id = watches.size();
  watches.push_back(w);
  a.GetReturnValue().Set(static_cast<double>(w->id));
}

// bellClose(id): stops the watch and closes its fd; false if there is no such open watch on this
// thread (closed already, or another thread's).
void BellClose(const FunctionCallbackInfo<Value>& a) {
  Watch* w = Find(a);
  if (!w) return a.GetReturnValue().Set(false);
  node::RemoveEnvironmentCleanupHook(a.GetIsolate(), Cleanup, w);
  Shut(w);
  a.GetReturnValue().Set(true);
}

// bellRing(id) -> 0, or the errno: one byte to the peer of a watch of this thread. It never blocks
// and never throws: EAGAIN means the peer has bytes enough to read (a peer that never reads costs
// one system call a ring), EPIPE that it is gone; EBADF that there is no such open watch here.
void BellRing(const FunctionCallbackInfo<Value>& a) {
  Watch* w = Find(a);
  if (!w) return a.GetReturnValue().Set(EBADF);
  static const char kOne = 1;
  ssize_t r = send(w->fd, &kOne, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  a.GetReturnValue().Set(r == 1 ? 0 : errno);
}

// bellSendEnd(fd) -> id: makes `fd` (one end of a bellPair) a send end that any thread of this
// process may ring through bellSend(id). It owns `fd` from now on: bellSendClose closes it.
void BellSendEnd(const FunctionCallbackInfo<Value>& a) {
  Isolate* iso = a.GetIsolate();
  if (!a[0]->IsInt32() || a[0].As<Int32>()->Value() < 0) return ThrowError(iso, "bellSendEnd(fd) takes an fd");
  std::lock_guard<std::mutex> g(senders_lock);
  senders.push_back(a[0].As<Int32>()->Value());
  a.GetReturnValue().Set(static_cast<double>(senders.size() - 1));
}

// bellSend(id) -> 0, or the errno: one byte from a send end, from any thread. It never blocks and
// never throws: EAGAIN means the watch has bytes enough to read; EBADF, no such open send end.
void BellSend(const FunctionCallbackInfo<Value>& a) {
  static const char kOne = 1;
  std::lock_guard<std::mutex> g(senders_lock);
  size_t id;
  if (!IdOf(a, senders.size(), &id) || senders[id] < 0) return a.GetReturnValue().Set(EBADF);
  ssize_t r = send(senders[id], &kOne, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  a.GetReturnValue().Set(r == 1 ? 0 : errno);
}

// bellSendClose(id): closes a send end; false if there is no such open one.
void BellSendClose(const FunctionCallbackInfo<Value>& a) {
  std::lock_guard<std::mutex> g(senders_lock);
  size_t id;
  if (!IdOf(a, senders.size(), &id) || senders[id] < 0) return a.GetReturnValue().Set(false);
  close(senders[id]);
  senders[id] = -1;
  a.GetReturnValue().Set(true);
}
