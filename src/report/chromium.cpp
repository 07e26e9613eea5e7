#include "report/chromium.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/files.hpp"

extern char** environ;

namespace bertscope::report {

namespace {

bool is_executable(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

// A folder of our own under the temp dir, removed with everything in it when done.
class PrivateDir {
 public:
  PrivateDir() {
    auto pattern = (std::filesystem::temp_directory_path() / "bertscope-chromium-XXXXXX").string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) fail(ErrorKind::io, "{}: cannot create a temporary folder: {}", pattern, std::strerror(errno));
    path_ = buf.data();
  }
  ~PrivateDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string tail(const std::string& text, std::size_t n) {
  std::string t = text.size() > n ? text.substr(text.size() - n) : text;
  for (auto& c : t)
    if (c == '\n' || c == '\r') c = ' ';
  return t;
}

std::string read_or_empty(const std::filesystem::path& p) {
  try {
    return io::read_file(p);
  } catch (const Error&) {
    return {};
  }
}

}  // namespace

std::filesystem::path find_chromium() {
  if (const char* env = std::getenv("BERTSCOPE_CHROMIUM"); env && *env) {
    if (!is_executable(env)) fail(ErrorKind::io, "BERTSCOPE_CHROMIUM={}: no such executable", env);
    return env;
  }
  const char* names[] = {"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"};
  const char* path_env = std::getenv("PATH");
  const std::string path_list = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  for (const char* name : names) {
    std::size_t start = 0;
    while (start <= path_list.size()) {
      const auto end = std::min(path_list.find(':', start), path_list.size());
      const std::filesystem::path dir = path_list.substr(start, end - start);
      if (!dir.empty() && is_executable(dir / name)) return dir / name;
      start = end + 1;
    }
  }
  fail(ErrorKind::io,
       "headless rendering needs Chromium and none was found (tried $BERTSCOPE_CHROMIUM, then chromium, "
       "chromium-browser, google-chrome-stable, google-chrome on PATH); on Debian: apt-get install chromium");
}

std::string dump_dom(std::string_view html, const ChromiumRun& run) {
  const auto exe = run.executable.empty() ? find_chromium() : run.executable;
  PrivateDir dir;
  const auto page = dir.path() / "page.html";
  io::write_file_atomic(page, html);
  const auto out_path = dir.path() / "dom.html";
  const auto err_path = dir.path() / "stderr.txt";

  // Flags: the new headless mode; no sandbox (it needs user namespaces that containers and
  // root often lack, and the page is our own, with a CSP that blocks every request); no GPU;
  // and everything that would reach the network at start-up off.
  std::vector<std::string> args = {
      exe.string(),
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--disable-dev-shm-usage",
      "--mute-audio",
      "--hide-scrollbars",
      "--user-data-dir=" + (dir.path() / "profile").string(),
      "--dump-dom",
      "file://" + page.string(),
  };
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so a timeout can stop the renderer and helper processes too.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, exe.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) fail(ErrorKind::io, "{}: cannot start: {}", exe.string(), std::strerror(rc));

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(run.timeout_s);
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) fail(ErrorKind::io, "{}: waitpid failed: {}", exe.string(), std::strerror(errno));
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      fail(ErrorKind::io, "{}: no result within {} s (headless rendering timed out); stderr: {}", exe.string(),
           run.timeout_s, tail(read_or_empty(err_path), 600));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Helpers left behind by the browser process would hold the folder; stop them.
  ::kill(-pid, SIGKILL);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail(ErrorKind::io, "{}: headless rendering failed ({}); stderr: {}", exe.string(),
         WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                           : fmt::format("signal {}", WIFSIGNALED(status) ? WTERMSIG(status) : 0),
         tail(read_or_empty(err_path), 600));
  return io::read_file(out_path);
}

}  // namespace bertscope::report
