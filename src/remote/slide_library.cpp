#include "vslide/remote/slide_library.h"

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

Status SlideLibrary::add_file(const std::string& path) {
  VSLIDE_ASSIGN_OR_RETURN(auto slide, opener_(path));
  std::unique_lock lock(mutex_);
  return add_locked(std::move(slide), std::filesystem::path(path).stem().string());
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
    if (auto it = by_name_.find(slide_id); it != by_name_.end()) return it->second;
    resolver = resolver_;
  }
  if (!resolver) return Status::not_found("slide '" + slide_id + "' is not served here");
  VSLIDE_ASSIGN_OR_RETURN(auto path, resolver(slide_id));
  VSLIDE_ASSIGN_OR_RETURN(auto slide, opener_(path));
  std::unique_lock lock(mutex_);
  // Another thread may have opened it meanwhile: keep the first.
  if (auto it = by_name_.find(slide_id); it != by_name_.end()) return it->second;
  if (slide->header().slide_id != slide_id) {
    return Status::not_found("slide '" + slide_id + "': catalog points at " + path + ", which holds slide '" +
                             slide->header().slide_id + "'");
  }
  VSLIDE_RETURN_IF_ERROR(add_locked(slide, ""));
  return slide;
}

std::vector<SlideLibrary::Entry> SlideLibrary::list() const {
  std::shared_lock lock(mutex_);
  std::vector<Entry> out;
  for (const auto& [id, s] : primary_) out.push_back(Entry{id, s->describe(), s});
  return out;
}

}  // namespace vslide::remote
