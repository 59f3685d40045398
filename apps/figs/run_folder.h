// A folder figs writes into has a kind and, while a command works in it, an owner.
//
//   kind   run | search | retrain | sweep, in RUN_DIR/figs-folder.json, written when the folder is
//          created. Only the same kind of command resumes it (figs sweep --resume refuses a run
//          folder, figs run --resume a search folder). Folders written before the marker existed
//          read as "sweep" when they hold runs/, else as any of run/search/retrain.
//   owner  an exclusive flock on RUN_DIR/.figs.lock, held until the process exits (or dies: the
//          kernel releases it), so two processes never write one folder.
//
// A new folder (--out) may exist, but must not hold anything figs writes (config.json, logs,
// checkpoints, arch.json, results, tables, plots): earlier results are never overwritten.
#pragma once

#include <string>

#include "config.h"

namespace figs::app {

class RunFolder {
 public:
  // `kind`: "run", "search", "retrain" or "sweep".
  // Creates the folder for a new command (refusing one that holds figs output), takes the lock,
  // writes the kind marker and config.json.
  static RunFolder create(const std::string& dir, const std::string& kind, const json& config);
  // Takes an existing folder of this kind for --resume.
  static RunFolder resume(const std::string& dir, const std::string& kind);
  // What resume() checks before it locks: the folder exists and holds this kind (throws if not).
  static void check_resumable(const std::string& dir, const std::string& kind);
  // The kind of an existing folder: its marker's; for a folder written before markers existed,
  // "sweep" when it holds runs/, else "legacy" (any of run, search, retrain); "" when it holds no
  // config.json at all.
  static std::string kind_of(const std::string& dir);
  // The folder rank 0 of a data-parallel run claimed (create or resume), for the other ranks: no
  // lock, nothing written (they write nothing; they read the checkpoint when resuming).
  static RunFolder follow(const std::string& dir);
  // Writes the kind marker into a folder that a command creates inside its own (a sweep's runs),
  // without a lock of its own: the enclosing folder's lock covers it.
  static void mark(const std::string& dir, const std::string& kind);

  RunFolder(RunFolder&& other) noexcept;
  RunFolder& operator=(RunFolder&&) = delete;
  RunFolder(const RunFolder&) = delete;
  ~RunFolder();

  const std::string& dir() const { return dir_; }

 private:
  RunFolder(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}
  static int lock(const std::string& dir);

  std::string dir_;
  int lock_fd_ = -1;
};

}  // namespace figs::app
