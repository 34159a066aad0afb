#include "net/posix/posix_disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "core/assert.h"

namespace keel::posix {

core::Status errno_status(int err, std::string_view op, std::string_view path) {
  std::string message = std::string(op) + " '" + std::string(path) + "': " + errno_text(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return core::not_found(std::move(message));
    case EEXIST:
      return core::already_exists(std::move(message));
    case ENOSPC:
    case EDQUOT:
      return core::no_space(std::move(message));
    default:
      return core::io_error(std::move(message));
  }
}

namespace {

// mkdir -p of an absolute path. Blocking; runs on a worker or at start-up.
int make_dirs_blocking(const std::string& abs) {
  std::string prefix;
  size_t pos = 0;
  while (pos < abs.size()) {
    size_t next = abs.find('/', pos + 1);
    if (next == std::string::npos) next = abs.size();
    prefix = abs.substr(0, next);
    pos = next;
    if (prefix.empty() || prefix == "/") continue;
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return errno;
  }
  struct stat st;
  if (::stat(abs.c_str(), &st) != 0) return errno;
  if (!S_ISDIR(st.st_mode)) return ENOTDIR;
  return 0;
}

class PosixFile final : public core::File {
 public:
  PosixFile(PosixDisk& disk, std::string path, int fd, uint64_t end)
      : disk_(disk), path_(std::move(path)), fd_(fd), end_(end) {}
  ~PosixFile() override { ::close(fd_); }

  core::Result<core::Bytes> read_at(uint64_t offset, size_t len) override {
    core::Bytes out;
    out.resize(len);
    int err = 0;
    size_t done = 0;
    disk_.pool().run([&] {
      while (done < len) {
        const ssize_t n = ::pread(fd_, out.data() + done, len - done, static_cast<off_t>(offset + done));
        if (n < 0) {
          if (errno == EINTR) continue;
          err = errno;
          return;
        }
        if (n == 0) return;  // end of file
        done += static_cast<size_t>(n);
      }
    });
    if (err != 0) return errno_status(err, "read", path_);
    out.resize(done);
    return out;
  }

  core::Status write_at(uint64_t offset, core::ByteView data) override {
    end_ = std::max(end_, offset + data.size());
    return write_blocking(offset, data, "write");
  }

  core::Status append(core::ByteView data) override {
    // Reserve the range before suspending so concurrent appends never
    // overlap (see the header).
    const uint64_t offset = end_;
    end_ += data.size();
    return write_blocking(offset, data, "append");
  }

  core::Status sync() override {
    int err = 0;
    disk_.pool().run([&] {
      if (::fdatasync(fd_) != 0) err = errno;
    });
    if (err != 0) return errno_status(err, "sync", path_);
    return core::Status::ok();
  }

  core::Status truncate(uint64_t size) override {
    end_ = size;
    int err = 0;
    disk_.pool().run([&] {
      while (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
        if (errno == EINTR) continue;
        err = errno;
        return;
      }
    });
    if (err != 0) return refresh_end(errno_status(err, "truncate", path_));
    return core::Status::ok();
  }

  core::Result<uint64_t> size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return errno_status(errno, "fstat", path_);
    return static_cast<uint64_t>(st.st_size);
  }

  const std::string& path() const override { return path_; }

 private:
  core::Status write_blocking(uint64_t offset, core::ByteView data, std::string_view op) {
    int err = 0;
    disk_.pool().run([&] {
      size_t done = 0;
      while (done < data.size()) {
        const ssize_t n =
            ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
        if (n < 0) {
          if (errno == EINTR) continue;
          err = errno;
          return;
        }
        done += static_cast<size_t>(n);
      }
    });
    if (err != 0) return refresh_end(errno_status(err, op, path_));
    return core::Status::ok();
  }

  // After a failed write the cached end may be past the real one; re-read it
  // so the next append does not leave a hole.
  core::Status refresh_end(core::Status failure) {
    struct stat st;
    if (::fstat(fd_, &st) == 0) end_ = static_cast<uint64_t>(st.st_size);
    return failure;
  }

  PosixDisk& disk_;
  std::string path_;
  int fd_;
  uint64_t end_;
};

}  // namespace

core::Result<std::unique_ptr<PosixDisk>> PosixDisk::open(EventLoop& loop, std::string root, size_t worker_threads) {
  if (root.empty()) return core::invalid_argument("disk root is empty");
  if (root[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) == nullptr) return errno_status(errno, "getcwd", root);
    root = std::string(cwd) + "/" + root;
  }
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (const int err = make_dirs_blocking(root); err != 0) return errno_status(err, "make root", root);
  return std::unique_ptr<PosixDisk>(new PosixDisk(loop, std::move(root), worker_threads));
}

PosixDisk::PosixDisk(EventLoop& loop, std::string root, size_t worker_threads)
    : loop_(loop), root_(std::move(root)), pool_(loop, worker_threads) {}

PosixDisk::~PosixDisk() = default;

core::Result<std::string> PosixDisk::resolve(const std::string& path) const {
  if (!path.empty() && path[0] == '/') {
    return core::invalid_argument("disk path '" + path + "' is absolute");
  }
  std::string out = root_;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    const std::string_view part(path.data() + pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return core::invalid_argument("disk path '" + path + "' has a '..' component");
    if (part.find('\0') != std::string_view::npos) {
      return core::invalid_argument("disk path '" + path + "' contains a NUL byte");
    }
    out += '/';
    out += part;
  }
  return out;
}

core::Result<std::unique_ptr<core::File>> PosixDisk::open(const std::string& path, core::OpenMode mode) {
  KEEL_TRY_ASSIGN(const std::string abs, resolve(path));
  int flags = O_CLOEXEC;
  switch (mode) {
    case core::OpenMode::kReadOnly: flags |= O_RDONLY; break;
    case core::OpenMode::kReadWrite: flags |= O_RDWR; break;
    case core::OpenMode::kCreate: flags |= O_RDWR | O_CREAT; break;
    case core::OpenMode::kCreateNew: flags |= O_RDWR | O_CREAT | O_EXCL; break;
  }
  int fd = -1;
  int err = 0;
  uint64_t end = 0;
  pool_.run([&] {
    do {
      fd = ::open(abs.c_str(), flags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
      err = errno;
      return;
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      err = EISDIR;
      ::close(fd);
      fd = -1;
      return;
    }
    end = static_cast<uint64_t>(st.st_size);
  });
  if (fd < 0) return errno_status(err, "open", path);
  return std::unique_ptr<core::File>(std::make_unique<PosixFile>(*this, path, fd, end));
}

core::Status PosixDisk::remove(const std::string& path) {
  KEEL_TRY_ASSIGN(const std::string abs, resolve(path));
  if (abs == root_) return core::invalid_argument("cannot remove the disk root");
  int err = 0;
  pool_.run([&] {
    if (::unlink(abs.c_str()) == 0) return;
    err = errno;
    // unlink(2) refuses directories with EISDIR on Linux.
    if (err == EISDIR) err = ::rmdir(abs.c_str()) == 0 ? 0 : errno;
  });
  if (err != 0) return errno_status(err, "remove", path);
  return core::Status::ok();
}

core::Status PosixDisk::rename(const std::string& from, const std::string& to) {
  KEEL_TRY_ASSIGN(const std::string abs_from, resolve(from));
  KEEL_TRY_ASSIGN(const std::string abs_to, resolve(to));
  int err = 0;
  pool_.run([&] {
    if (::rename(abs_from.c_str(), abs_to.c_str()) != 0) err = errno;
  });
  if (err != 0) return errno_status(err, "rename", from + "' to '" + to);
  return core::Status::ok();
}

core::Result<std::vector<std::string>> PosixDisk::list(const std::string& dir) {
  KEEL_TRY_ASSIGN(const std::string abs, resolve(dir));
  DIR* d = ::opendir(abs.c_str());
  if (d == nullptr) return errno_status(errno, "list", dir);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return errno_status(err, "list", dir);
  std::sort(names.begin(), names.end());
  return names;
}

core::Status PosixDisk::make_dirs(const std::string& dir) {
  KEEL_TRY_ASSIGN(const std::string abs, resolve(dir));
  int err = 0;
  pool_.run([&] { err = make_dirs_blocking(abs); });
  if (err != 0) return errno_status(err, "make_dirs", dir);
  return core::Status::ok();
}

core::Status PosixDisk::sync_dir(const std::string& dir) {
  KEEL_TRY_ASSIGN(const std::string abs, resolve(dir));
  int err = 0;
  pool_.run([&] {
    const int fd = ::open(abs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      err = errno;
      return;
    }
    if (::fsync(fd) != 0) err = errno;
    ::close(fd);
  });
  if (err != 0) return errno_status(err, "sync_dir", dir);
  return core::Status::ok();
}

core::Result<bool> PosixDisk::exists(const std::string& path) {
  KEEL_TRY_ASSIGN(const std::string abs, resolve(path));
  struct stat st;
  if (::stat(abs.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return errno_status(errno, "exists", path);
}

}  // namespace keel::posix
