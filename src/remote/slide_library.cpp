#include "vslide/remote/slide_library.h"

#include <sys/stat.h>

#include <filesystem>

#include "vslide/storage/hdf5_slide.h"

namespace vslide::remote {

namespace {
Result<std::shared_ptr<SlideSource>> open_hdf5(const std::string& path) {
  auto slide = Hdf5Slide::open(path, OpenMode::kRead);
  if (!slide.ok()) return slide.status();
  return std::shared_ptr<SlideSource>(std::move(slide).value());
}
}  // namespace

SlideLibrary::SlideLibrary() : opener_(open_hdf5) {}
SlideLibrary::SlideLibrary(Opener opener) : opener_(std::move(opener)) {}

bool SlideLibrary::identify(const std::string& path, FileIdentity* out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *out = FileIdentity{path, uint64_t(st.st_dev), uint64_t(st.st_ino), uint64_t(st.st_size),
                      int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  return true;
}

std::shared_ptr<SlideSource> SlideLibrary::follow_file(std::shared_ptr<SlideSource> slide) const {
  FileIdentity opened;
  {
    std::shared_lock lock(mutex_);
    auto it = files_.find(slide.get());
    if (it == files_.end()) return slide;
    opened = it->second;
  }
  FileIdentity now;
  if (!identify(opened.path, &now) || now == opened) return slide;  // gone: keep serving what we have
  auto fresh = opener_(opened.path);
  if (!fresh.ok() || (*fresh)->header().slide_id != slide->header().slide_id) return slide;
  std::unique_lock lock(mutex_);
  if (files_.count(slide.get()) == 0) {  // another thread swapped it first
    for (const auto& [name, s] : primary_) {
      if (name == slide->header().slide_id) return s;
    }
    return slide;
  }
  std::shared_ptr<SlideSource> next = std::move(fresh).value();
  for (auto* table : {&primary_, &by_name_}) {
    for (auto& [name, s] : *table) {
      if (s == slide) s = next;
    }
  }
  files_.erase(slide.get());
  files_[next.get()] = now;
  return next;
}

Status SlideLibrary::add_file(const std::string& path) {
  FileIdentity identity;
  const bool known = identify(path, &identity);
  VSLIDE_ASSIGN_OR_RETURN(auto slide, opener_(path));
  std::unique_lock lock(mutex_);
  const SlideSource* raw = slide.get();
  VSLIDE_RETURN_IF_ERROR(add_locked(std::move(slide), std::filesystem::path(path).stem().string()));
  if (known) files_[raw] = identity;
  return Status();
}

Status SlideLibrary::add_source(std::shared_ptr<SlideSource> slide, const std::string& alias) {
  std::unique_lock lock(mutex_);
  return add_locked(std::move(slide), alias);
}

Status SlideLibrary::add_locked(std::shared_ptr<SlideSource> slide, const std::string& alias) const {
  const std::string id = slide->header().slide_id;
  if (id.empty()) return Status::invalid_argument(slide->describe() + ": slide header has no slide_id");
  if (auto it = primary_.find(id); it != primary_.end() && it->second != slide) {
    return Status::already_exists(slide->describe() + ": slide id '" + id + "' is already served from " +
                                  it->second->describe());
  }
  primary_[id] = slide;
  by_name_[id] = slide;
  // An alias never hides another slide's id.
  if (!alias.empty() && alias != id && primary_.count(alias) == 0) by_name_.emplace(alias, slide);
  return Status();
}

void SlideLibrary::set_resolver(Resolver resolver) {
  std::unique_lock lock(mutex_);
  resolver_ = std::move(resolver);
}

Result<std::shared_ptr<SlideSource>> SlideLibrary::find(const std::string& slide_id) const {
  Resolver resolver;
  {
    std::shared_lock lock(mutex_);
    if (auto it = by_name_.find(slide_id); it != by_name_.end()) {
      auto slide = it->second;
      lock.unlock();
      return follow_file(std::move(slide));
    }
    resolver = resolver_;
  }
  if (!resolver) return Status::not_found("slide '" + slide_id + "' is not served here");
  VSLIDE_ASSIGN_OR_RETURN(auto path, resolver(slide_id));
  FileIdentity identity;
  const bool known = identify(path, &identity);
  auto opened = opener_(path);
  if (!opened.ok()) {
    // The client asked well; the file is at fault: a file that cannot be read is
    // an I/O error, one that opens but makes no sense is corruption (never
    // "malformed request" or "internal").
    const StatusCode code = opened.status().code();
    const bool io = code == StatusCode::kIOError || code == StatusCode::kNotFound;
    return Status(io ? StatusCode::kIOError : StatusCode::kCorruption,
                  "slide '" + slide_id + "': " + opened.status().message());
  }
  auto slide = std::move(opened).value();
  std::unique_lock lock(mutex_);
  // Another thread may have opened it meanwhile: keep the first.
  if (auto it = by_name_.find(slide_id); it != by_name_.end()) return it->second;
  if (slide->header().slide_id != slide_id) {
    return Status::not_found("slide '" + slide_id + "': catalog points at " + path + ", which holds slide '" +
                             slide->header().slide_id + "'");
  }
  VSLIDE_RETURN_IF_ERROR(add_locked(slide, ""));
  if (known) files_[slide.get()] = identity;
  return slide;
}

std::vector<SlideLibrary::Entry> SlideLibrary::list() const {
  std::shared_lock lock(mutex_);
  std::vector<Entry> out;
  for (const auto& [id, s] : primary_) out.push_back(Entry{id, s->describe(), s});
  return out;
}

}  // namespace vslide::remote
