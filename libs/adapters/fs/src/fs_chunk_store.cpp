#include "recorder/adapters/fs/fs_chunk_store.hpp"
#include "recorder/core/domain/recording.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace recorder::adapters::fs {
namespace {

using core::Errc;
using core::Result;

constexpr std::uint32_t kMagic = 0x314b4352;  // "RCK1", little-endian
constexpr std::size_t kRecordSize = 32;
constexpr std::size_t kVerifyBuffer = 1 << 20;

std::uint32_t crc32_of(const void* data, std::size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (size > 0) {
    const auto n = static_cast<uInt>(std::min<std::size_t>(size, std::numeric_limits<uInt>::max()));
    crc = crc32(crc, p, n);
    p += n;
    size -= n;
  }
  return static_cast<std::uint32_t>(crc);
}

template <typename T>
void put_le(std::byte* out, T v) {
  for (std::size_t i = 0; i < sizeof(T); ++i) out[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}

template <typename T>
T get_le(const std::byte* in) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(in[i]) << (8 * i));
  return v;
}

struct Record {
  std::uint32_t length;
  core::ChunkIndex index;
  std::uint64_t offset;
  std::uint32_t payload_crc;
};

std::array<std::byte, kRecordSize> encode(const Record& r) {
  std::array<std::byte, kRecordSize> out{};
  put_le<std::uint32_t>(&out[0], kMagic);
  put_le<std::uint32_t>(&out[4], r.length);
  put_le<std::uint64_t>(&out[8], r.index);
  put_le<std::uint64_t>(&out[16], r.offset);
  put_le<std::uint32_t>(&out[24], r.payload_crc);
  put_le<std::uint32_t>(&out[28], crc32_of(out.data(), 28));
  return out;
}

std::optional<Record> decode(const std::byte* in) {
  if (get_le<std::uint32_t>(in) != kMagic) return std::nullopt;
  if (get_le<std::uint32_t>(in + 28) != crc32_of(in, 28)) return std::nullopt;
  return Record{get_le<std::uint32_t>(in + 4), get_le<std::uint64_t>(in + 8), get_le<std::uint64_t>(in + 16),
                get_le<std::uint32_t>(in + 24)};
}

Errc errc_of(int err) { return err == ENOSPC || err == EDQUOT ? Errc::storage_full : Errc::io_error; }

std::unexpected<core::Error> os_error(int err, std::string_view what, const std::filesystem::path& path) {
  return core::fail(errc_of(err), fmt::format("{} {}: {}", what, path.string(), std::strerror(err)));
}

Result<void> write_all(int fd, const std::byte* data, std::size_t size, std::uint64_t offset,
                       const std::filesystem::path& path) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error(errno, "cannot write", path);
    }
    if (n == 0) return os_error(ENOSPC, "cannot write", path);
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return core::ok();
}

Result<void> read_all(int fd, std::byte* data, std::size_t size, std::uint64_t offset,
                      const std::filesystem::path& path) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error(errno, "cannot read", path);
    }
    if (n == 0) return core::fail(Errc::io_error, fmt::format("unexpected end of {}", path.string()));
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return core::ok();
}

Result<void> sync(int fd, const std::filesystem::path& path) {
  if (::fdatasync(fd) != 0) return os_error(errno, "cannot sync", path);
  return core::ok();
}

Result<void> sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return os_error(errno, "cannot open directory", dir);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return os_error(err, "cannot sync directory", dir);
  return core::ok();
}

Result<std::uint64_t> file_size(int fd, const std::filesystem::path& path) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return os_error(errno, "cannot stat", path);
  return static_cast<std::uint64_t>(st.st_size);
}

// Several processes may hold one recording's files in turn (recorderd instances on a
// shared volume, ADR 0018): with `shared`, each write and each verification holds an
// exclusive flock on the index file, taken without waiting. A process paused in the middle of a write keeps
// it, so that nobody verifies (and cuts) or appends to files it is half-way through; the
// kernel drops it when the process dies.
class FileLock {
 public:
  static Result<FileLock> take(int fd, const core::RecordingId& id, Errc busy) {
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return FileLock(fd);
    if (errno == EWOULDBLOCK)
      return core::fail(busy, fmt::format("the chunk files of recording {} are being written by another process "
                                          "(another instance, perhaps a paused one); retry",
                                          id));
    return core::fail(Errc::io_error, fmt::format("cannot lock the chunk files of recording {}: {}", id,
                                                  std::strerror(errno)));
  }
  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::flock(fd_, LOCK_UN);
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace

struct FsChunkStore::Files {
  std::mutex mutex;
  std::filesystem::path dir;
  int data = -1;
  int index = -1;
  std::uint64_t data_size = 0;   // end of the last acknowledged chunk
  std::uint64_t index_size = 0;  // end of its record
  std::optional<ChunkLayout> layout;  // verified, kept current by put()
  std::string broken;            // set when a rollback failed: the files are in doubt
  std::uint64_t last_use = 0;

  std::filesystem::path data_path() const { return dir / "data"; }
  std::filesystem::path index_path() const { return dir / "index"; }

  ~Files() {
    if (data >= 0) ::close(data);
    if (index >= 0) ::close(index);
  }
};

FsChunkStore::FsChunkStore(std::filesystem::path root, std::size_t max_open_recordings, bool shared)
    : root_(std::move(root)), max_open_(std::max<std::size_t>(max_open_recordings, 1)), shared_(shared) {}

FsChunkStore::~FsChunkStore() = default;

std::string FsChunkStore::directory_name(const core::RecordingId& id) { return core::file_safe_id(id); }

std::filesystem::path FsChunkStore::directory(const core::RecordingId& id) const {
  return root_ / directory_name(id);
}

Result<std::shared_ptr<FsChunkStore::Files>> FsChunkStore::open(const core::RecordingId& id, bool create) {
  std::shared_ptr<Files> files;
  {
    std::lock_guard lock(mutex_);
    if (auto it = open_.find(id); it != open_.end()) {
      it->second->last_use = ++use_counter_;
      files = it->second;
    } else {
      if (open_.size() >= max_open_) {
        auto oldest = std::ranges::min_element(open_, {}, [](const auto& e) { return e.second->last_use; });
        open_.erase(oldest);  // its descriptors close when the last user lets go
      }
      files = std::make_shared<Files>();
      files->dir = directory(id);
      files->last_use = ++use_counter_;
      open_.emplace(id, files);
    }
  }
  // Opening (and for a new recording, three directory syncs) happens under the recording's
  // own lock, so that starting one recording never stalls the chunks of the others.
  std::lock_guard lock(files->mutex);
  if (files->data >= 0) return files;
  auto opened = open_files(*files, id, create);
  if (!opened) {
    std::lock_guard global(mutex_);
    if (auto it = open_.find(id); it != open_.end() && it->second == files) open_.erase(it);
    return std::unexpected(opened.error());
  }
  return files;
}

Result<void> FsChunkStore::open_files(Files& files, const core::RecordingId& id, bool create) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(files.dir, ec);
  if (!existed) {
    if (!create) return core::fail(Errc::not_found, fmt::format("no chunks stored for recording {}", id));
    std::filesystem::create_directories(files.dir, ec);
    if (ec) return core::fail(errc_of(ec.value()), fmt::format("cannot create {}: {}", files.dir.string(), ec.message()));
  }
  const int flags = O_RDWR | O_CREAT | O_CLOEXEC;
  const int data = ::open(files.data_path().c_str(), flags, 0644);
  if (data < 0) return os_error(errno, "cannot open", files.data_path());
  const int index = ::open(files.index_path().c_str(), flags, 0644);
  if (index < 0) {
    const int err = errno;
    ::close(data);
    return os_error(err, "cannot open", files.index_path());
  }
  files.data = data;
  files.index = index;
  if (!existed) {
    // The new files must survive a crash as entries of their directories.
    if (auto r = sync_directory(files.dir); !r) return std::unexpected(r.error());
    if (auto r = sync_directory(root_); !r) return std::unexpected(r.error());
    if (!root_synced_.exchange(true)) {
      if (auto r = sync_directory(root_.parent_path()); !r) return std::unexpected(r.error());
    }
  }
  return core::ok();
}

Result<ChunkLayout> FsChunkStore::verify(Files& f) {
  if (f.layout) return *f.layout;
  auto index_size = file_size(f.index, f.index_path());
  if (!index_size) return std::unexpected(index_size.error());
  auto data_size = file_size(f.data, f.data_path());
  if (!data_size) return std::unexpected(data_size.error());

  ChunkLayout layout;
  layout.data_file = f.data_path();
  std::vector<std::byte> records(*index_size);
  if (auto r = read_all(f.index, records.data(), records.size(), 0, f.index_path()); !r)
    return std::unexpected(r.error());
  std::vector<std::byte> buffer(kVerifyBuffer);
  std::uint64_t end = 0;    // end of the last whole record's payload
  std::size_t whole = 0;    // records that decode and whose payload is all there
  std::size_t served = 0;   // of those, the ones whose payload matches its checksum
  for (std::size_t at = 0; at + kRecordSize <= records.size(); at += kRecordSize) {
    auto rec = decode(&records[at]);
    // A record that does not decode, is not contiguous, or points past the data is where
    // the last write was torn: everything from here on was never acknowledged.
    if (!rec || rec->offset != end || rec->offset + rec->length > *data_size) break;
    uLong crc = crc32(0L, Z_NULL, 0);
    std::uint64_t pos = rec->offset;
    std::uint64_t left = rec->length;
    while (left > 0) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
      if (auto r = read_all(f.data, buffer.data(), n, pos, f.data_path()); !r) return std::unexpected(r.error());
      crc = crc32(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<uInt>(n));
      pos += n;
      left -= n;
    }
    end += rec->length;
    ++whole;
    // A damaged payload is never served; the chunk counts as missing, so a client that
    // resumes sends it again, and the new copy is appended.
    if (static_cast<std::uint32_t>(crc) != rec->payload_crc) continue;
    ++served;
    if (layout.ledger.add(rec->index, rec->length)) layout.spans.push_back({rec->index, rec->offset, rec->length});
  }
  const std::size_t valid = whole;
  const std::uint64_t valid_index = valid * kRecordSize;
  if (*index_size > valid_index || *data_size > end) {
    if (::ftruncate(f.index, static_cast<off_t>(valid_index)) != 0) return os_error(errno, "cannot truncate", f.index_path());
    if (::ftruncate(f.data, static_cast<off_t>(end)) != 0) return os_error(errno, "cannot truncate", f.data_path());
    if (auto r = sync(f.index, f.index_path()); !r) return std::unexpected(r.error());
    if (auto r = sync(f.data, f.data_path()); !r) return std::unexpected(r.error());
  }
  f.index_size = valid_index;
  f.data_size = end;
  layout.in_order = layout.spans.size() == served && served == whole && layout.ledger.complete() &&
                    std::ranges::is_sorted(layout.spans, {}, &ChunkSpan::index);
  f.layout = layout;
  return layout;
}

Result<void> FsChunkStore::put(const core::RecordingId& id, core::ChunkIndex index, std::span<const std::byte> bytes) {
  if (bytes.size() > std::numeric_limits<std::uint32_t>::max())
    return core::fail(Errc::chunk_too_large, fmt::format("a chunk of {} bytes is larger than 4 GiB", bytes.size()));
  auto opened = open(id, true);
  if (!opened) return std::unexpected(opened.error());
  Files& f = **opened;
  std::lock_guard lock(f.mutex);
  if (!f.broken.empty())
    return core::fail(Errc::io_error, fmt::format("the chunk files of recording {} are in doubt after an earlier "
                                                  "failure ({}); they are verified again at the next start",
                                                  id, f.broken));
  std::optional<FileLock> locked;
  if (shared_) {
    auto taken = FileLock::take(f.index, id, Errc::lease_lost);
    if (!taken) return std::unexpected(taken.error());
    locked.emplace(std::move(*taken));
  }
  if (shared_ && f.layout) {
    // What this process knows of the files must still be all there is: otherwise another
    // process appended since (it holds the recording now) and these offsets are stale.
    auto data_size = file_size(f.data, f.data_path());
    if (!data_size) return std::unexpected(data_size.error());
    auto index_size = file_size(f.index, f.index_path());
    if (!index_size) return std::unexpected(index_size.error());
    if (*data_size != f.data_size || *index_size != f.index_size) {
      f.layout.reset();
      return core::fail(Errc::lease_lost, fmt::format("the chunk files of recording {} were written by another "
                                                      "process since this one last wrote them: another instance "
                                                      "holds the recording now",
                                                      id));
    }
  }
  if (auto v = verify(f); !v) return std::unexpected(v.error());

  const Record rec{static_cast<std::uint32_t>(bytes.size()), index, f.data_size, crc32_of(bytes.data(), bytes.size())};
  const auto encoded = encode(rec);
  Result<void> written = write_all(f.data, bytes.data(), bytes.size(), f.data_size, f.data_path());
  if (written) written = write_all(f.index, encoded.data(), encoded.size(), f.index_size, f.index_path());
  if (written) written = sync(f.data, f.data_path());
  if (written) written = sync(f.index, f.index_path());
  if (!written) {
    // Never retry a failed sync into a false success: cut both files back to the last
    // acknowledged chunk and make that durable. If that fails too, refuse the files.
    const bool rolled_back = ::ftruncate(f.index, static_cast<off_t>(f.index_size)) == 0 &&
                             ::ftruncate(f.data, static_cast<off_t>(f.data_size)) == 0 &&
                             ::fdatasync(f.index) == 0 && ::fdatasync(f.data) == 0;
    if (!rolled_back) f.broken = written.error().message;
    return written;
  }
  f.data_size += bytes.size();
  f.index_size += kRecordSize;
  ChunkLayout& layout = *f.layout;
  if (layout.ledger.add(index, bytes.size())) {
    layout.in_order = layout.in_order && index == layout.spans.size();
    layout.spans.push_back({index, rec.offset, rec.length});
  } else {
    layout.in_order = false;  // the data file now holds bytes no span points at
  }
  return core::ok();
}

Result<core::ChunkLedger> FsChunkStore::scan(const core::RecordingId& id) {
  auto l = layout(id);
  if (!l) {
    if (l.error().code == Errc::not_found) return core::ChunkLedger{};
    return std::unexpected(l.error());
  }
  return l->ledger;
}

Result<ChunkLayout> FsChunkStore::layout(const core::RecordingId& id) {
  auto opened = open(id, false);
  if (!opened) return std::unexpected(opened.error());
  Files& f = **opened;
  std::lock_guard lock(f.mutex);
  if (f.layout) return *f.layout;
  if (!shared_) return verify(f);
  auto locked = FileLock::take(f.index, id, Errc::unavailable);
  if (!locked) return std::unexpected(locked.error());
  return verify(f);
}

void FsChunkStore::close(const core::RecordingId& id) {
  std::lock_guard lock(mutex_);
  open_.erase(id);
}

Result<void> FsChunkStore::remove(const core::RecordingId& id) {
  close(id);
  std::error_code ec;
  std::filesystem::remove_all(directory(id), ec);
  if (ec) return core::fail(Errc::io_error, fmt::format("cannot delete {}: {}", directory(id).string(), ec.message()));
  return core::ok();
}

}  // namespace recorder::adapters::fs
