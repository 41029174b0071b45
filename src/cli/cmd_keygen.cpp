// vslide keygen OUT_PREFIX: a CURVE key pair for a tile server, broker or client.
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "command.h"
#include "vslide/remote/curve.h"

namespace vslide::cli {
namespace {

int run_keygen(int argc, char** argv) {
  std::string prefix;
  bool json = false, force = false;
  ArgParser p("vslide keygen OUT_PREFIX [--force] [--json]",
              "Writes a CURVE key pair: OUT_PREFIX.key (public; copy it into a server's authorised keys\n"
              "folder, or give it to clients) and OUT_PREFIX.key_secret (private, mode 0600).");
  p.positional("OUT_PREFIX", "path prefix of the two key files", &prefix);
  p.flag("--force", "overwrite existing key files", &force);
  p.flag("--json", "print the file names and public key as JSON", &json);
  if (int rc = p.parse(argc, argv); rc >= 0) return rc;
  if (!force && (std::filesystem::exists(prefix + ".key") || std::filesystem::exists(prefix + ".key_secret"))) {
    std::cerr << "vslide keygen: " << prefix << ".key or " << prefix
              << ".key_secret exists; not overwriting (use --force)\n";
    return 1;
  }
  auto keys = remote::generate_curve_keypair();
  if (!keys.ok()) {
    std::cerr << "vslide keygen: " << keys.status().message() << "\n";
    return 1;
  }
  if (Status s = remote::write_key_files(*keys, prefix, /*replace=*/force); !s.ok()) {
    std::cerr << "vslide keygen: " << s.message() << "\n";
    return 1;
  }
  if (json) {
    std::cout << nlohmann::json{{"public_file", prefix + ".key"}, {"secret_file", prefix + ".key_secret"},
                                {"public_key", keys->public_key}}.dump(2) << "\n";
  } else {
    std::cout << "public key " << keys->public_key << "\n"
              << "wrote " << prefix << ".key (public) and " << prefix << ".key_secret (secret)\n";
  }
  return 0;
}

}  // namespace
}  // namespace vslide::cli

VSLIDE_COMMAND("keygen", "write a CURVE key pair for the tile dealer", vslide::cli::run_keygen);
