#include "run_folder.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/json_reader.h"
#include "nas/architecture.h"

namespace figs::app {

namespace {

namespace fs = std::filesystem;

const char* kMarker = "figs-folder.json";
const char* kLock = ".figs.lock";

// Every name figs writes into a run or study folder (docs/cli.md, "Run folders").
bool written_by_figs(const std::string& name) {
  static const std::vector<std::string> exact = {
      "config.json", kMarker, "search.csv", "search.jsonl", "search_layers.jsonl", "search.ckpt", "arch.json",
      "retrain.csv", "retrain.ckpt", "results.json", "runs", "results.csv", "summary.csv", "summary.md", "pareto.gp",
      "gnuplot.log"};
  if (std::find(exact.begin(), exact.end(), name) != exact.end()) return true;
  return name.rfind("pareto_", 0) == 0 || (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0);
}

bool known_kind(const std::string& kind) {
  return kind == "run" || kind == "search" || kind == "retrain" || kind == "sweep";
}

std::string command_for(const std::string& kind) { return kind == "sweep" ? "figs sweep" : "figs " + kind; }

}  // namespace

int RunFolder::lock(const std::string& dir) {
  const std::string path = dir + "/" + kLock;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  FIGS_CHECK(fd >= 0, "cannot open the lock file '", path, "': ", std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    char owner[64] = {0};
    const ssize_t n = ::pread(fd, owner, sizeof owner - 1, 0);
    ::close(fd);
    if (e == EWOULDBLOCK)
      fail("'", dir, "' is in use by another figs process", n > 0 ? (" (pid " + std::string(owner, n) + ")") : "",
           "; wait for it to finish, or choose another folder");
    fail("cannot lock '", path, "': ", std::strerror(e));
  }
  const std::string pid = std::to_string(::getpid());
  // The pid is for the message above; the lock itself is the flock.
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const int e = errno;
    ::close(fd);
    fail("cannot write the lock file '", path, "': ", std::strerror(e));
  }
  return fd;
}

std::string RunFolder::kind_of(const std::string& dir) {
  const std::string marker = dir + "/" + kMarker;
  if (fs::exists(marker)) {
    const json j = JsonReader::parse_file(marker);
    const JsonReader r(j, marker);
    const std::string kind = r["kind"].string();
    if (!known_kind(kind)) r["kind"].fail("must be run, search, retrain or sweep, got \"", kind, "\"");
    return kind;
  }
  if (!fs::exists(dir + "/config.json")) return "";
  return fs::is_directory(dir + "/runs") ? "sweep" : "legacy";
}

void RunFolder::mark(const std::string& dir, const std::string& kind) {
  FIGS_CHECK(known_kind(kind), "RunFolder: unknown kind '", kind, "'");
  write_file_atomically(dir + "/" + kMarker, json{{"kind", kind}, {"written_by", "figs"}}.dump(2) + "\n");
}

RunFolder RunFolder::create(const std::string& dir, const std::string& kind, const json& config) {
  FIGS_CHECK(!dir.empty(), "--out RUN_DIR (a new folder) or --resume RUN_DIR is required");
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    FIGS_CHECK(fs::is_directory(dir, ec), "--out '", dir, "' exists and is not a folder");
    std::vector<std::string> names;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      if (written_by_figs(name)) names.push_back(name);
    }
    FIGS_CHECK(!ec, "cannot list '", dir, "': ", ec.message());
    std::sort(names.begin(), names.end());
    std::string found;
    for (const std::string& name : names) found += (found.empty() ? "" : ", ") + name;
    if (!found.empty()) {
      const std::string kind_there = kind_of(dir);
      fail("'", dir, "' already holds figs output (", found, "); choose another --out",
           kind_there == kind || (kind_there == "legacy" && kind != "sweep")
               ? ", or continue it with " + command_for(kind) + " --resume " + dir
               : "");
    }
  } else {
    fs::create_directories(dir, ec);
    FIGS_CHECK(!ec, "cannot create the folder '", dir, "': ", ec.message());
  }
  RunFolder folder(dir, lock(dir));
  mark(dir, kind);
  write_file_atomically(dir + "/config.json", config.dump(2) + "\n");
  return folder;
}

RunFolder RunFolder::resume(const std::string& dir, const std::string& kind) {
  check_resumable(dir, kind);
  return RunFolder(dir, lock(dir));
}

void RunFolder::check_resumable(const std::string& dir, const std::string& kind) {
  FIGS_CHECK(fs::is_directory(dir), "--resume '", dir, "': no such folder");
  const std::string there = kind_of(dir);
  FIGS_CHECK(!there.empty(), "--resume '", dir, "': not a figs folder (no config.json)");
  // An older folder without a marker is a study when it holds runs/, else one of the run kinds.
  const bool fits = there == kind || (there == "legacy" && kind != "sweep");
  if (!fits) {
    const std::string what = there == "legacy" ? "run" : there;
    fail("--resume '", dir, "': this is a ", what, " folder", what == "sweep" ? " (a study)" : "",
         ", not a ", kind, " folder; continue it with ", command_for(what), " --resume ", dir);
  }
}

RunFolder RunFolder::follow(const std::string& dir) {
  FIGS_CHECK(fs::is_directory(dir), "'", dir, "': no such folder (rank 0 should have created it; a data-parallel "
             "run needs its run folder on a file system every rank sees)");
  return RunFolder(dir, -1);
}

RunFolder::RunFolder(RunFolder&& other) noexcept : dir_(std::move(other.dir_)), lock_fd_(other.lock_fd_) {
  other.lock_fd_ = -1;
}

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

}  // namespace figs::app
