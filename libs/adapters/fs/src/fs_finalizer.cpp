#include "recorder/adapters/fs/fs_finalizer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace recorder::adapters::fs {
namespace {

using core::Errc;
using core::Result;

std::unexpected<core::Error> os_error(std::string_view what, const std::filesystem::path& p, int err) {
  return core::fail(err == ENOSPC ? Errc::storage_full : Errc::io_error,
                    fmt::format("{} {}: {}", what, p.string(), std::strerror(err)));
}

Result<void> sync_path(const std::filesystem::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return os_error("cannot open", p, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return os_error("cannot sync", p, err);
  return core::ok();
}

// Copies the chunks in index order into `target` (through a temporary, synced).
Result<std::uint64_t> assemble(const ChunkLayout& layout, const std::filesystem::path& target) {
  auto spans = layout.spans;
  std::ranges::sort(spans, {}, &ChunkSpan::index);
  const auto tmp = std::filesystem::path(target.string() + ".tmp");
  const int in = ::open(layout.data_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return os_error("cannot open", layout.data_file, errno);
  const int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    return os_error("cannot create", tmp, err);
  }
  std::vector<char> buffer(1 << 20);
  std::uint64_t written = 0;
  Result<void> status = core::ok();
  for (const ChunkSpan& s : spans) {
    std::uint64_t left = s.length;
    off_t pos = static_cast<off_t>(s.offset);
    while (left > 0 && status) {
      const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer.size()));
      const ssize_t n = ::pread(in, buffer.data(), want, pos);
      if (n <= 0) {
        status = os_error("cannot read", layout.data_file, n < 0 ? errno : EIO);
        break;
      }
      for (ssize_t done = 0; done < n;) {
        const ssize_t w = ::write(out, buffer.data() + done, static_cast<std::size_t>(n - done));
        if (w < 0) {
          if (errno == EINTR) continue;
          status = os_error("cannot write", tmp, errno);
          break;
        }
        done += w;
      }
      pos += n;
      left -= static_cast<std::uint64_t>(n);
      written += static_cast<std::uint64_t>(n);
    }
    if (!status) break;
  }
  if (status && ::fdatasync(out) != 0) status = os_error("cannot sync", tmp, errno);
  ::close(in);
  ::close(out);
  if (status && ::rename(tmp.c_str(), target.c_str()) != 0) status = os_error("cannot rename", tmp, errno);
  if (!status) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);  // the chunks are untouched: nothing accepted is lost
    return std::unexpected(status.error());
  }
  return written;
}

// Hard-links the data file as the original: the same bytes, no copy.
Result<std::uint64_t> link_original(const ChunkLayout& layout, const std::filesystem::path& target) {
  const auto tmp = std::filesystem::path(target.string() + ".link");
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  if (::link(layout.data_file.c_str(), tmp.c_str()) != 0) return os_error("cannot link", tmp, errno);
  if (::rename(tmp.c_str(), target.c_str()) != 0) return os_error("cannot rename", tmp, errno);
  return layout.ledger.total_bytes();
}

}  // namespace

FsFinalizer::FsFinalizer(FsChunkStore& chunks, std::filesystem::path data_dir, std::size_t workers)
    : chunks_(chunks), data_dir_(std::move(data_dir)), workers_(workers) {}

FsFinalizer::~FsFinalizer() { stop(); }

void FsFinalizer::stop() { workers_.stop(); }

std::string FsFinalizer::extension_for(const std::string& mime_type) {
  const std::string base = mime_type.substr(0, mime_type.find(';'));
  if (base == "video/webm" || base == "audio/webm") return "webm";
  if (base == "video/mp4" || base == "audio/mp4") return "mp4";
  if (base == "audio/ogg" || base == "video/ogg") return "ogg";
  if (base == "audio/wav" || base == "audio/x-wav" || base == "audio/wave") return "wav";
  if (base == "video/x-matroska" || base == "audio/x-matroska") return "mkv";
  if (base == "audio/mpeg") return "mp3";
  return "bin";
}

Result<core::FinalizeResult> FsFinalizer::finalize_now(const core::Recording& r) {
  core::FinalizeResult result;
  if (r.kind != core::SourceKind::stream) return result;  // captures and agents keep their files
  auto layout = chunks_.layout(r.id);
  if (!layout) {
    if (layout.error().code != Errc::not_found) return std::unexpected(layout.error());
    return result;  // a stream that never stored a chunk has no file
  }
  if (layout->spans.empty()) return result;
  const std::string dir_name = FsChunkStore::directory_name(r.id);
  const auto dir = data_dir_ / "recordings" / dir_name;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return core::fail(Errc::io_error, fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  const std::string name = "original." + extension_for(r.meta.mime_type);
  const auto target = dir / name;
  auto bytes = layout->in_order ? link_original(*layout, target) : assemble(*layout, target);
  if (!bytes) return std::unexpected(bytes.error());
  for (const auto& d : {dir, dir.parent_path()}) {
    if (auto s = sync_path(d, O_RDONLY | O_DIRECTORY); !s) return std::unexpected(s.error());
  }
  chunks_.close(r.id);
  result.files.push_back(core::MediaFile{"recordings/" + dir_name + "/" + name, core::FileRole::original, *bytes,
                                         std::nullopt});
  return result;
}

void FsFinalizer::finalize(const core::Recording& r, Done done) {
  workers_.post([this, r, done = std::move(done)] { done(finalize_now(r)); });
}

void FsFinalizer::process(const core::Recording& r, Done done) {
  workers_.post([r, done = std::move(done)] {
    done(core::fail(Errc::internal, fmt::format("recording {}: conversion to '{}' is not available here; the "
                                                "GStreamer adapter converts",
                                                r.id, r.format)));
  });
}

Result<void> FsFinalizer::remove(const core::Recording& r) {
  std::error_code ec;
  const auto dir = data_dir_ / "recordings" / FsChunkStore::directory_name(r.id);
  std::filesystem::remove_all(dir, ec);
  if (ec) return core::fail(Errc::io_error, fmt::format("cannot delete {}: {}", dir.string(), ec.message()));
  return core::ok();
}

}  // namespace recorder::adapters::fs
