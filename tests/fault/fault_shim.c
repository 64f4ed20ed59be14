/* Storage fault injection for tests: an LD_PRELOAD library that makes the
 * Nth matching libc call fail with a chosen errno, so tests can prove that
 * no filesystem failure loses WAL or leaves a backup that looks complete.
 *
 * Environment (read once, at the first intercepted call):
 *   WALSTREAM_FAULT=KINDS:N[+]:ERRNO[:lose]   fail the Nth matching call (N+:
 *       the Nth and every later one; N = 0: fail nothing, only count; :lose,
 *       see WALSTREAM_FAULT_LOSE). KINDS is a
 *       comma-separated list of
 *         write      write(2), writev(2)              (regular files only)
 *         pwrite     pwrite, pwrite64                 (regular files only)
 *         pwritev    pwritev, pwritev64, pwritev2...  (regular files only)
 *         writes     all three above
 *         directwrite  any of them on a descriptor with O_DIRECT set
 *         fdatasync  fdatasync(2)
 *         fsync      fsync(2) of a regular file
 *         fsyncdir   fsync(2) of a directory
 *         rename     rename, renameat, renameat2
 *         create     open/openat (and the 64 variants) with O_CREAT
 *         fallocate  fallocate, fallocate64, posix_fallocate[64]
 *         syncfs     syncfs(2)
 *       ERRNO is a name (ENOSPC, EIO, EDQUOT, EINVAL, EROFS, EFBIG, EACCES)
 *       or a number. A failed call does nothing: the real call is not made.
 *   WALSTREAM_FAULT_PATH=SUBSTRING  only calls whose path (a descriptor's path
 *       is read from /proc/self/fd) contains SUBSTRING match.
 *   WALSTREAM_FAULT_LOG=FILE  one line per matching call, appended after it
 *       returns: "SEQ CALL PATH[ -> PATH2] ok|FAIL ERRNO|error ERRNO".
 *   WALSTREAM_FAULT_REPORT=FILE  written at exit: "calls C\nfailures F\n", so
 *       a test can run once with N = 0 and then try every N in 1..C.
 *   WALSTREAM_FAULT_LOSE=1  with fsync or fdatasync in KINDS, a failed sync of
 *       a file also loses what was written to it since its last successful
 *       sync (its bytes and size go back to what they were then), as the
 *       kernel may drop dirty pages after a writeback error: WAL reported as
 *       flushed despite the failure then shows up as lost.
 *   WALSTREAM_FAULT_SYNC_DELAY_MS=N  every fsync or fdatasync of a regular
 *       file sleeps N ms first, as on a slow disk (with or without
 *       WALSTREAM_FAULT): WAL then surely arrives while a sync runs.
 *   WALSTREAM_FAULT_EXE=NAME  act only in a process whose executable is NAME
 *       (children that inherit LD_PRELOAD are left alone); a forked child is
 *       always left alone.
 *
 * Thread-safe: counting, the decision and the loss bookkeeping happen under
 * one mutex; the real calls run outside it. Unit tests that preload the
 * library reconfigure it in process through walstream_fault_configure().
 */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum {
  kWrite = 1u << 0,
  kPwrite = 1u << 1,
  kPwritev = 1u << 2,
  kDirectWrite = 1u << 3,
  kFdatasync = 1u << 4,
  kFsync = 1u << 5,
  kFsyncDir = 1u << 6,
  kRename = 1u << 7,
  kCreate = 1u << 8,
  kFallocate = 1u << 9,
  kSyncfs = 1u << 10,
};

static const struct {
  const char* name;
  unsigned mask;
} kKinds[] = {
    {"write", kWrite},
    {"pwrite", kPwrite},
    {"pwritev", kPwritev},
    {"writes", kWrite | kPwrite | kPwritev},
    {"directwrite", kDirectWrite},
    {"fdatasync", kFdatasync},
    {"fsync", kFsync},
    {"fsyncdir", kFsyncDir},
    {"rename", kRename},
    {"create", kCreate},
    {"fallocate", kFallocate},
    {"syncfs", kSyncfs},
};

static const struct {
  const char* name;
  int value;
} kErrnos[] = {
    {"ENOSPC", ENOSPC}, {"EIO", EIO},     {"EDQUOT", EDQUOT}, {"EINVAL", EINVAL},
    {"EROFS", EROFS},   {"EFBIG", EFBIG}, {"EACCES", EACCES}, {"EPERM", EPERM},
};

#define PATH_FILTER_MAX 512
#define DIRTY_FILES_MAX 1024

struct Config {
  int active; /* a valid WALSTREAM_FAULT is in force */
  unsigned mask;
  long nth;   /* 0: count only */
  int sticky; /* fail every call from nth on */
  int error;
  char path_filter[PATH_FILTER_MAX];
  int lose; /* ":lose" or WALSTREAM_FAULT_LOSE=1 (see "lost writes") */
};

/* A file written since its last successful sync: its size then, and what
 * [lo, hi) held before the writes since (see "lost writes"). */
struct DirtyFile {
  dev_t dev;
  ino_t ino;
  uint64_t synced_size;
  uint64_t lo;
  uint64_t hi;
  unsigned char* saved;
  int used;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static struct Config config;
static long calls;
static long failures;
static pid_t owner_pid;
static int enabled_here; /* this process is the one to act in */
static int log_fd = -1;
static char report_path[PATH_MAX];
static long sync_delay_ms; /* WALSTREAM_FAULT_SYNC_DELAY_MS */
static struct DirtyFile dirty[DIRTY_FILES_MAX];
static char first_failed_path[PATH_MAX]; /* of the first failed call */
static __thread int in_shim;             /* the shim's own libc calls pass straight through */

/* --- the real functions ------------------------------------------------- */

typedef void (*any_fn)(void);

/* dlsym's object pointer as a function pointer (copied: ISO C has no cast). */
static any_fn real(const char* name) {
  void* found = dlsym(RTLD_NEXT, name);
  if (found == NULL) {
    static const char message[] = "fault_shim: a libc function is missing\n";
    ssize_t ignored = syscall(SYS_write, 2, message, sizeof message - 1);
    (void)ignored;
    abort();
  }
  any_fn fn;
  memcpy(&fn, &found, sizeof fn);
  return fn;
}

/* The next definition of `name` (libc's), looked up once per call site. */
#define REAL(type, name)                                    \
  __extension__({                                           \
    static type cached_;                                    \
    type fn_ = __atomic_load_n(&cached_, __ATOMIC_ACQUIRE); \
    if (fn_ == NULL) {                                      \
      fn_ = (type)real(#name);                              \
      __atomic_store_n(&cached_, fn_, __ATOMIC_RELEASE);    \
    }                                                       \
    fn_;                                                    \
  })

typedef ssize_t (*write_fn)(int, const void*, size_t);
typedef ssize_t (*writev_fn)(int, const struct iovec*, int);
typedef ssize_t (*pwrite_fn)(int, const void*, size_t, off_t);
typedef ssize_t (*pwritev_fn)(int, const struct iovec*, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec*, int, off_t, int);
typedef int (*fd_fn)(int);
typedef int (*rename_fn)(const char*, const char*);
typedef int (*renameat_fn)(int, const char*, int, const char*);
typedef int (*renameat2_fn)(int, const char*, int, const char*, unsigned);
typedef int (*open_fn)(const char*, int, ...);
typedef int (*openat_fn)(int, const char*, int, ...);
typedef int (*fallocate_fn)(int, int, off_t, off_t);
typedef int (*posix_fallocate_fn)(int, off_t, off_t);

static ssize_t real_write(int fd, const void* data, size_t size) {
  return REAL(write_fn, write)(fd, data, size);
}

/* --- configuration ------------------------------------------------------ */

static int parse_errno(const char* text) {
  for (size_t i = 0; i < sizeof kErrnos / sizeof kErrnos[0]; ++i) {
    if (strcmp(text, kErrnos[i].name) == 0) return kErrnos[i].value;
  }
  char* end = NULL;
  long value = strtol(text, &end, 10);
  return *text != '\0' && *end == '\0' && value > 0 && value < 4096 ? (int)value : 0;
}

/* KINDS:N[+]:ERRNO into `out`; returns 0, or -1 when malformed. */
static int parse_spec(const char* spec, struct Config* out) {
  char copy[256];
  if (strlen(spec) >= sizeof copy) return -1;
  strcpy(copy, spec);
  char* first_colon = strchr(copy, ':');
  if (first_colon == NULL) return -1;
  *first_colon = '\0';
  char* count = first_colon + 1;
  char* second_colon = strchr(count, ':');
  if (second_colon == NULL) return -1;
  *second_colon = '\0';
  char* error = second_colon + 1;
  int lose = 0;
  char* third_colon = strchr(error, ':');
  if (third_colon != NULL) {
    *third_colon = '\0';
    if (strcmp(third_colon + 1, "lose") != 0) return -1;
    lose = 1;
  }

  unsigned mask = 0;
  char* save = NULL;
  for (char* kind = strtok_r(copy, ",", &save); kind != NULL; kind = strtok_r(NULL, ",", &save)) {
    unsigned found = 0;
    for (size_t i = 0; i < sizeof kKinds / sizeof kKinds[0]; ++i) {
      if (strcmp(kind, kKinds[i].name) == 0) found = kKinds[i].mask;
    }
    if (found == 0) return -1;
    mask |= found;
  }
  char* end = NULL;
  long nth = strtol(count, &end, 10);
  int sticky = 0;
  if (*end == '+') {
    sticky = 1;
    ++end;
  }
  if (end == count || *end != '\0' || nth < 0) return -1;
  int error_number = parse_errno(error);
  if (mask == 0 || error_number == 0) return -1;
  out->mask = mask;
  out->nth = nth;
  out->sticky = sticky;
  out->error = error_number;
  out->lose = lose;
  out->active = 1;
  return 0;
}

static int executable_matches(const char* name) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n < 0) return 0;
  exe[n] = '\0';
  const char* base = strrchr(exe, '/');
  return strcmp(base != NULL ? base + 1 : exe, name) == 0;
}

static void init(void) {
  in_shim = 1;
  owner_pid = getpid();
  const char* exe = getenv("WALSTREAM_FAULT_EXE");
  enabled_here = exe == NULL || *exe == '\0' || executable_matches(exe);
  const char* delay = getenv("WALSTREAM_FAULT_SYNC_DELAY_MS");
  if (enabled_here && delay != NULL) sync_delay_ms = strtol(delay, NULL, 10);
  const char* spec = getenv("WALSTREAM_FAULT");
  if (enabled_here && spec != NULL && *spec != '\0') {
    if (parse_spec(spec, &config) != 0) {
      static const char message[] = "fault_shim: cannot parse WALSTREAM_FAULT\n";
      real_write(2, message, sizeof message - 1);
      abort();
    }
    const char* filter = getenv("WALSTREAM_FAULT_PATH");
    if (filter != NULL) snprintf(config.path_filter, sizeof config.path_filter, "%s", filter);
    const char* lose = getenv("WALSTREAM_FAULT_LOSE");
    if (lose != NULL && strcmp(lose, "1") == 0) config.lose = 1;
    const char* log_path = getenv("WALSTREAM_FAULT_LOG");
    if (log_path != NULL && *log_path != '\0') {
      log_fd = REAL(open_fn, open)(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    const char* report = getenv("WALSTREAM_FAULT_REPORT");
    if (report != NULL) snprintf(report_path, sizeof report_path, "%s", report);
  }
  in_shim = 0;
}

static int acting(void) {
  pthread_once(&init_once, init);
  return enabled_here && getpid() == owner_pid;
}

__attribute__((destructor)) static void write_report(void) {
  if (report_path[0] == '\0' || getpid() != owner_pid) return;
  in_shim = 1;
  char text[128];
  pthread_mutex_lock(&mutex);
  int length = snprintf(text, sizeof text, "calls %ld\nfailures %ld\n", calls, failures);
  pthread_mutex_unlock(&mutex);
  int fd = REAL(open_fn, open)(report_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ssize_t ignored = real_write(fd, text, (size_t)length);
    (void)ignored;
    REAL(fd_fn, close)(fd);
  }
  in_shim = 0;
}

/* --- paths -------------------------------------------------------------- */

static void fd_path(int fd, char* out, size_t size) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, size - 1);
  if (n < 0) n = 0;
  out[n] = '\0';
}

/* `path` as seen from directory descriptor `dirfd` (AT_FDCWD: the working
 * directory), for the path filter and the log. */
static void resolve_at(int dirfd, const char* path, char* out, size_t size) {
  if (path == NULL) {
    out[0] = '\0';
    return;
  }
  if (path[0] == '/') {
    snprintf(out, size, "%s", path);
    return;
  }
  char dir[PATH_MAX];
  if (dirfd == AT_FDCWD) {
    if (getcwd(dir, sizeof dir) == NULL) dir[0] = '\0';
  } else {
    fd_path(dirfd, dir, sizeof dir);
  }
  snprintf(out, size, "%s/%s", dir, path);
}

/* --- decisions ---------------------------------------------------------- */

struct Call {
  const char* name;
  unsigned kind;
  char path[PATH_MAX];
  char path2[PATH_MAX];
  long seq; /* 0: not a matching call */
  int fail; /* errno to fail with, 0 to run it */
};

/* Counts the call if it matches and decides whether it fails. */
static void decide(struct Call* call) {
  call->seq = 0;
  call->fail = 0;
  pthread_mutex_lock(&mutex);
  if (config.active && (config.mask & call->kind) != 0 &&
      (config.path_filter[0] == '\0' || strstr(call->path, config.path_filter) != NULL ||
       strstr(call->path2, config.path_filter) != NULL)) {
    call->seq = ++calls;
    if (config.nth > 0 && (call->seq == config.nth || (config.sticky && call->seq > config.nth))) {
      call->fail = config.error;
      if (failures++ == 0) snprintf(first_failed_path, sizeof first_failed_path, "%s", call->path);
    }
  }
  pthread_mutex_unlock(&mutex);
}

static const char* errno_name(int value) {
  for (size_t i = 0; i < sizeof kErrnos / sizeof kErrnos[0]; ++i) {
    if (kErrnos[i].value == value) return kErrnos[i].name;
  }
  return "errno";
}

static void log_call(const struct Call* call, int failed_errno) {
  if (call->seq == 0 || log_fd < 0) return;
  char line[2 * PATH_MAX + 128];
  const char* outcome = call->fail != 0 ? "FAIL" : failed_errno != 0 ? "error" : "ok";
  int length = snprintf(line, sizeof line, "%ld %s %s%s%s %s", call->seq, call->name, call->path,
                        call->path2[0] != '\0' ? " -> " : "", call->path2, outcome);
  if (call->fail != 0 || failed_errno != 0) {
    const int value = call->fail != 0 ? call->fail : failed_errno;
    length +=
        snprintf(line + length, sizeof line - (size_t)length, " %s %d", errno_name(value), value);
  }
  if (length > (int)sizeof line - 1) length = (int)sizeof line - 1;
  line[length++] = '\n';
  ssize_t ignored = real_write(log_fd, line, (size_t)length);
  (void)ignored;
}

/* --- lost writes -------------------------------------------------------- */

/* With WALSTREAM_FAULT_LOSE, a failed sync of a file puts back what the file
 * held at its last successful sync (its size too), as if the writes since
 * had never reached the disk. Before each write the bytes it will cover are
 * saved, once per sync interval, into one contiguous undo range per file. */

static struct DirtyFile* dirty_entry(const struct stat* st, int create) {
  struct DirtyFile* free_slot = NULL;
  for (size_t i = 0; i < DIRTY_FILES_MAX; ++i) {
    if (dirty[i].used && dirty[i].dev == st->st_dev && dirty[i].ino == st->st_ino) {
      return &dirty[i];
    }
    if (!dirty[i].used && free_slot == NULL) free_slot = &dirty[i];
  }
  if (!create || free_slot == NULL) return NULL;
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->used = 1;
  free_slot->dev = st->st_dev;
  free_slot->ino = st->st_ino;
  free_slot->synced_size = (uint64_t)st->st_size;
  return free_slot;
}

static void forget(struct DirtyFile* entry) {
  free(entry->saved);
  memset(entry, 0, sizeof *entry);
}

/* Reads [from, to) of the file open as `fd` into `out` (zeros past its end). */
static void read_old_bytes(int fd, uint64_t from, uint64_t to, unsigned char* out) {
  memset(out, 0, (size_t)(to - from));
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  int in = REAL(open_fn, open)(link, O_RDONLY | O_CLOEXEC);
  if (in < 0) return;
  for (uint64_t at = from; at < to;) {
    ssize_t n = pread(in, out + (at - from), (size_t)(to - at), (off_t)at);
    if (n <= 0) break;
    at += (uint64_t)n;
  }
  REAL(fd_fn, close)(in);
}

/* Saves the bytes [offset, offset + length) of `fd` not saved yet. */
static void before_write(int fd, uint64_t offset, uint64_t length) {
  if (length == 0) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  pthread_mutex_lock(&mutex);
  if (config.lose && (config.mask & (kFsync | kFdatasync)) != 0) {
    struct DirtyFile* entry = dirty_entry(&st, 1);
    if (entry != NULL) {
      uint64_t lo = entry->saved != NULL ? entry->lo : offset;
      uint64_t hi = entry->saved != NULL ? entry->hi : offset;
      const uint64_t new_lo = offset < lo ? offset : lo;
      const uint64_t new_hi = offset + length > hi ? offset + length : hi;
      if (new_lo < lo || new_hi > hi || entry->saved == NULL) {
        unsigned char* saved = malloc((size_t)(new_hi - new_lo) + 1);
        if (saved != NULL) {
          if (new_lo < lo) read_old_bytes(fd, new_lo, lo, saved);
          if (entry->saved != NULL) memcpy(saved + (lo - new_lo), entry->saved, (size_t)(hi - lo));
          if (new_hi > hi) read_old_bytes(fd, hi, new_hi, saved + (hi - new_lo));
          free(entry->saved);
          entry->saved = saved;
          entry->lo = new_lo;
          entry->hi = new_hi;
        }
      }
    }
  }
  pthread_mutex_unlock(&mutex);
}

/* A successful sync keeps everything; a failed one loses what came after
 * the last successful one. */
static void after_sync(int fd, int succeeded) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  pthread_mutex_lock(&mutex);
  struct DirtyFile* entry = dirty_entry(&st, 0);
  if (entry != NULL && !succeeded) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    int out = REAL(open_fn, open)(link, O_WRONLY | O_CLOEXEC);
    if (out >= 0) {
      for (uint64_t at = entry->lo; entry->saved != NULL && at < entry->hi;) {
        ssize_t n = REAL(pwrite_fn, pwrite)(out, entry->saved + (at - entry->lo),
                                            (size_t)(entry->hi - at), (off_t)at);
        if (n <= 0) break;
        at += (uint64_t)n;
      }
      if ((uint64_t)st.st_size > entry->synced_size) {
        int ignored = ftruncate(out, (off_t)entry->synced_size);
        (void)ignored;
      }
      REAL(fd_fn, close)(out);
    }
  }
  if (entry != NULL) forget(entry);
  pthread_mutex_unlock(&mutex);
}

/* --- call classification ------------------------------------------------ */

/* For a write-family call on `fd`: whether it is a regular file, and the
 * kinds it matches. */
static int classify_write(int fd, unsigned kind, struct Call* call) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  call->kind = kind;
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_DIRECT) != 0) call->kind |= kDirectWrite;
  fd_path(fd, call->path, sizeof call->path);
  call->path2[0] = '\0';
  return 1;
}

#define BEGIN_CALL(call_name) \
  struct Call call;           \
  call.name = call_name;      \
  call.seq = 0;               \
  call.fail = 0;              \
  int shim_acting = !in_shim && acting()

#define FAIL_IF_DECIDED(ret) \
  if (call.fail != 0) {      \
    log_call(&call, 0);      \
    errno = call.fail;       \
    return ret;              \
  }

/* --- writes ------------------------------------------------------------- */

static ssize_t after_write(struct Call* call, ssize_t result) {
  const int saved = errno;
  log_call(call, result < 0 ? saved : 0);
  errno = saved;
  return result;
}

/* Where a write(2) on `fd` lands (the position is not moved). */
static uint64_t current_offset(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  struct stat st;
  if (flags >= 0 && (flags & O_APPEND) != 0) return fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
  const off_t at = lseek(fd, 0, SEEK_CUR);
  return at >= 0 ? (uint64_t)at : 0;
}

static size_t iov_length(const struct iovec* iov, int count) {
  size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  return total;
}

ssize_t write(int fd, const void* data, size_t size) {
  BEGIN_CALL("write");
  if (!shim_acting || !classify_write(fd, kWrite, &call)) return real_write(fd, data, size);
  decide(&call);
  FAIL_IF_DECIDED(-1);
  before_write(fd, current_offset(fd), size);
  return after_write(&call, real_write(fd, data, size));
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  BEGIN_CALL("writev");
  if (!shim_acting || !classify_write(fd, kWrite, &call)) {
    return REAL(writev_fn, writev)(fd, iov, count);
  }
  decide(&call);
  FAIL_IF_DECIDED(-1);
  before_write(fd, current_offset(fd), iov_length(iov, count));
  return after_write(&call, REAL(writev_fn, writev)(fd, iov, count));
}

static ssize_t pwrite_common(const char* name, int fd, const void* data, size_t size,
                             off_t offset) {
  BEGIN_CALL(name);
  if (!shim_acting || !classify_write(fd, kPwrite, &call)) {
    return REAL(pwrite_fn, pwrite)(fd, data, size, offset);
  }
  decide(&call);
  FAIL_IF_DECIDED(-1);
  before_write(fd, (uint64_t)offset, size);
  return after_write(&call, REAL(pwrite_fn, pwrite)(fd, data, size, offset));
}

ssize_t pwrite(int fd, const void* data, size_t size, off_t offset) {
  return pwrite_common("pwrite", fd, data, size, offset);
}

ssize_t pwrite64(int fd, const void* data, size_t size, off64_t offset) {
  return pwrite_common("pwrite64", fd, data, size, (off_t)offset);
}

static ssize_t pwritev_common(const char* name, int fd, const struct iovec* iov, int count,
                              off_t offset, int flags, int has_flags) {
  BEGIN_CALL(name);
  const int matching = shim_acting && classify_write(fd, kPwritev, &call);
  if (matching) {
    decide(&call);
    FAIL_IF_DECIDED(-1);
    before_write(fd, offset == -1 ? current_offset(fd) : (uint64_t)offset, iov_length(iov, count));
  }
  ssize_t result = has_flags ? REAL(pwritev2_fn, pwritev2)(fd, iov, count, offset, flags)
                             : REAL(pwritev_fn, pwritev)(fd, iov, count, offset);
  return matching ? after_write(&call, result) : result;
}

ssize_t pwritev(int fd, const struct iovec* iov, int count, off_t offset) {
  return pwritev_common("pwritev", fd, iov, count, offset, 0, 0);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int count, off64_t offset) {
  return pwritev_common("pwritev64", fd, iov, count, (off_t)offset, 0, 0);
}

ssize_t pwritev2(int fd, const struct iovec* iov, int count, off_t offset, int flags) {
  return pwritev_common("pwritev2", fd, iov, count, offset, flags, 1);
}

ssize_t pwritev64v2(int fd, const struct iovec* iov, int count, off64_t offset, int flags) {
  return pwritev_common("pwritev64v2", fd, iov, count, (off_t)offset, flags, 1);
}

/* --- syncs -------------------------------------------------------------- */

static int sync_common(const char* name, int fd, unsigned file_kind, fd_fn fn) {
  BEGIN_CALL(name);
  if (!shim_acting) return fn(fd);
  struct stat st;
  const int is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  call.kind = file_kind == kFsync && is_dir ? kFsyncDir : file_kind;
  fd_path(fd, call.path, sizeof call.path);
  call.path2[0] = '\0';
  decide(&call);
  const int is_file_sync = (file_kind == kFsync || file_kind == kFdatasync) && !is_dir;
  if (is_file_sync && sync_delay_ms > 0) {
    struct timespec pause = {sync_delay_ms / 1000, (sync_delay_ms % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
  }
  if (call.fail != 0) {
    if (is_file_sync) after_sync(fd, 0);
    log_call(&call, 0);
    errno = call.fail;
    return -1;
  }
  int result = fn(fd);
  const int saved = errno;
  if (is_file_sync) after_sync(fd, result == 0);
  log_call(&call, result != 0 ? saved : 0);
  errno = saved;
  return result;
}

int fsync(int fd) { return sync_common("fsync", fd, kFsync, REAL(fd_fn, fsync)); }
int fdatasync(int fd) { return sync_common("fdatasync", fd, kFdatasync, REAL(fd_fn, fdatasync)); }
int syncfs(int fd) { return sync_common("syncfs", fd, kSyncfs, REAL(fd_fn, syncfs)); }

/* --- renames ------------------------------------------------------------ */

static int rename_common(const char* name, int olddirfd, const char* oldpath, int newdirfd,
                         const char* newpath, unsigned flags, int variant) {
  BEGIN_CALL(name);
  if (shim_acting) {
    call.kind = kRename;
    resolve_at(olddirfd, oldpath, call.path, sizeof call.path);
    resolve_at(newdirfd, newpath, call.path2, sizeof call.path2);
    decide(&call);
    FAIL_IF_DECIDED(-1);
  }
  int result;
  if (variant == 0) {
    result = REAL(rename_fn, rename)(oldpath, newpath);
  } else if (variant == 1) {
    result = REAL(renameat_fn, renameat)(olddirfd, oldpath, newdirfd, newpath);
  } else {
    result = REAL(renameat2_fn, renameat2)(olddirfd, oldpath, newdirfd, newpath, flags);
  }
  const int saved = errno;
  if (shim_acting) log_call(&call, result != 0 ? saved : 0);
  errno = saved;
  return result;
}

int rename(const char* oldpath, const char* newpath) {
  return rename_common("rename", AT_FDCWD, oldpath, AT_FDCWD, newpath, 0, 0);
}

int renameat(int olddirfd, const char* oldpath, int newdirfd, const char* newpath) {
  return rename_common("renameat", olddirfd, oldpath, newdirfd, newpath, 0, 1);
}

int renameat2(int olddirfd, const char* oldpath, int newdirfd, const char* newpath,
              unsigned flags) {
  return rename_common("renameat2", olddirfd, oldpath, newdirfd, newpath, flags, 2);
}

/* --- creating opens ----------------------------------------------------- */

static int open_common(const char* name, int dirfd, const char* path, int flags, mode_t mode,
                       int at) {
  BEGIN_CALL(name);
  const int matching = shim_acting && (flags & O_CREAT) != 0;
  if (matching) {
    call.kind = kCreate;
    resolve_at(dirfd, path, call.path, sizeof call.path);
    call.path2[0] = '\0';
    decide(&call);
    FAIL_IF_DECIDED(-1);
  }
  int result = at ? REAL(openat_fn, openat)(dirfd, path, flags, mode)
                  : REAL(open_fn, open)(path, flags, mode);
  const int saved = errno;
  if (matching) log_call(&call, result < 0 ? saved : 0);
  errno = saved;
  return result;
}

/* The mode argument exists only with O_CREAT or O_TMPFILE. */
#define MODE_ARG(flags, mode)                                         \
  do {                                                                \
    if (((flags)&O_CREAT) != 0 || ((flags)&O_TMPFILE) == O_TMPFILE) { \
      va_list args;                                                   \
      va_start(args, flags);                                          \
      mode = (mode_t)va_arg(args, unsigned);                          \
      va_end(args);                                                   \
    }                                                                 \
  } while (0)

int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  MODE_ARG(flags, mode);
  return open_common("open", AT_FDCWD, path, flags, mode, 0);
}

int open64(const char* path, int flags, ...) {
  mode_t mode = 0;
  MODE_ARG(flags, mode);
  return open_common("open64", AT_FDCWD, path, flags, mode, 0);
}

int openat(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  MODE_ARG(flags, mode);
  return open_common("openat", dirfd, path, flags, mode, 1);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  MODE_ARG(flags, mode);
  return open_common("openat64", dirfd, path, flags, mode, 1);
}

/* --- space allocation --------------------------------------------------- */

static int fallocate_common(const char* name, int fd, int mode, off_t offset, off_t length,
                            int posix) {
  BEGIN_CALL(name);
  if (shim_acting) {
    call.kind = kFallocate;
    fd_path(fd, call.path, sizeof call.path);
    call.path2[0] = '\0';
    decide(&call);
    if (call.fail != 0) {
      log_call(&call, 0);
      if (posix) return call.fail;
      errno = call.fail;
      return -1;
    }
  }
  int result = posix ? REAL(posix_fallocate_fn, posix_fallocate)(fd, offset, length)
                     : REAL(fallocate_fn, fallocate)(fd, mode, offset, length);
  const int saved = errno;
  if (shim_acting) log_call(&call, posix ? result : (result != 0 ? saved : 0));
  errno = saved;
  return result;
}

int fallocate(int fd, int mode, off_t offset, off_t length) {
  return fallocate_common("fallocate", fd, mode, offset, length, 0);
}

int fallocate64(int fd, int mode, off64_t offset, off64_t length) {
  return fallocate_common("fallocate64", fd, mode, (off_t)offset, (off_t)length, 0);
}

int posix_fallocate(int fd, off_t offset, off_t length) {
  return fallocate_common("posix_fallocate", fd, 0, offset, length, 1);
}

int posix_fallocate64(int fd, off64_t offset, off64_t length) {
  return fallocate_common("posix_fallocate64", fd, 0, (off_t)offset, (off_t)length, 1);
}

/* --- in-process control (unit tests) ------------------------------------ */

/* Replaces the fault in force (NULL or "" spec: none) and resets the counts.
 * Returns 0, or -1 for a malformed spec (nothing changes then). */
int walstream_fault_configure(const char* spec, const char* path_filter) {
  pthread_once(&init_once, init);
  struct Config next;
  memset(&next, 0, sizeof next);
  if (spec != NULL && *spec != '\0' && parse_spec(spec, &next) != 0) return -1;
  if (path_filter != NULL) snprintf(next.path_filter, sizeof next.path_filter, "%s", path_filter);
  pthread_mutex_lock(&mutex);
  config = next;
  for (size_t i = 0; i < DIRTY_FILES_MAX; ++i) {
    if (dirty[i].used) forget(&dirty[i]);
  }
  calls = 0;
  failures = 0;
  first_failed_path[0] = '\0';
  pthread_mutex_unlock(&mutex);
  return 0;
}

/* Matching calls and failed calls since the last configure. */
long walstream_fault_calls(void) {
  pthread_mutex_lock(&mutex);
  long value = calls;
  pthread_mutex_unlock(&mutex);
  return value;
}

long walstream_fault_failures(void) {
  pthread_mutex_lock(&mutex);
  long value = failures;
  pthread_mutex_unlock(&mutex);
  return value;
}

/* Copies the path of the first failed call since the last configure ("" if
 * none) into `out`. */
void walstream_fault_failed_path(char* out, size_t size) {
  pthread_mutex_lock(&mutex);
  snprintf(out, size, "%s", first_failed_path);
  pthread_mutex_unlock(&mutex);
}
