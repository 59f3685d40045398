// Writing a file so that a reader (or a crash) never sees it half written: the bytes go to
// PATH.tmp, are flushed to disk, and PATH.tmp is renamed over PATH; the directory is then synced
// so the rename itself survives a power loss (best effort: some filesystems refuse fsync on a
// directory). Every file figs writes for a user goes through here (checkpoints, arch.json,
// config.json, results, tables, ONNX models).
#pragma once

#include <string>

namespace figs {

// Throws naming the file and the OS error; `who` prefixes the message (e.g. "save_checkpoint: ").
// On failure PATH is unchanged and PATH.tmp removed.
void write_file_atomically(const std::string& path, const std::string& bytes, const char* who = "");

}  // namespace figs
